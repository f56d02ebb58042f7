"""Writes the sample inputs: a messy ticket export as CSV and Excel, and its mapping file.

Deterministic (seeded): running it again rewrites the same files. Run from anywhere:

    python sample_data/make_samples.py

- ``tasks.csv``: UTF-8 with a BOM (as Excel saves it), comma-separated; zero-padded ticket ids,
  dd/mm/YYYY dates, empty cells, a note over several lines and one with accents.
- ``tasks.xlsx``: sheet "Tasks" with the same rows (real date cells, whole numbers), and sheet
  "Archive" with a few older rows.
- ``tasks.mapping.yml``: how those columns become tasks (found beside tasks.csv by ``import``).
"""

from __future__ import annotations

import csv
import random
from datetime import datetime
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
ROWS = 50
HEADER = ["Ticket ID", "Subject", "Link", "Country", "Priority", "Status", "Due", "Notes"]
SUBJECTS = [
    "Refund request", "Login fails on mobile", "Invoice address wrong", "Parcel not delivered",
    "Cancel subscription", "Password reset loop", "Duplicate charge", "Change delivery date",
    'Question about "Pro" plan', "Damaged item, wants replacement",
]
COUNTRIES = ["FR", "DE", "ES", "IT", "GB", "NA"]  # "NA" is Namibia: it must stay text
STATUSES = ["Open", "In progress", "Closed"]
NOTES = ["", "", "", "Customer called twice", "VIP", "Waiting for the carrier", "See previous ticket"]

MAPPING = """\
# How the columns of tasks.csv / tasks.xlsx become Fragment tasks (fragment-bulk mapping).
version: 1
key: [Ticket ID]          # the uid is md5("ticket#<Ticket ID>"): re-imports update, never duplicate
namespace: ticket
empty: omit               # empty cells are left out of the task
columns:
  Ticket ID: {target: fields.ticket_id, type: str}
  Subject: title
  Link: url
  Country: fields.country
  Priority: {target: fields.priority, type: int}
  Status: {target: status, values: {Open: TODO, In progress: STARTED, Closed: DONE}}
  Due: {target: due_at, type: date, format: "%d/%m/%Y", timezone: Europe/Paris}
  Notes: fields.notes
"""


def make_rows(count: int, *, first_id: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        ticket = first_id + n
        due = datetime(2026, rng.randint(1, 12), rng.randint(1, 28)) if rng.random() < 0.85 else None
        rows.append({
            "Ticket ID": f"{ticket:05d}",
            "Subject": f"{rng.choice(SUBJECTS)} #{ticket}",
            "Link": f"https://support.example.com/tickets/{ticket}" if rng.random() < 0.7 else "",
            "Country": rng.choice(COUNTRIES),
            "Priority": rng.randint(1, 5),
            "Status": rng.choice(STATUSES),
            "Due": due,
            "Notes": rng.choice(NOTES),
        })
    if count > 10:
        rows[3]["Notes"] = "Line one of the note\nLine two, with a comma\nLine three"
        rows[7]["Notes"] = "Le client a appelé : problème réglé à Orléans"
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADER)
        for row in rows:
            due = row["Due"].strftime("%d/%m/%Y") if row["Due"] else ""
            writer.writerow([row["Ticket ID"], row["Subject"], row["Link"], row["Country"], row["Priority"],
                             row["Status"], due, row["Notes"]])


def write_sheet(sheet, rows: list[dict]) -> None:
    sheet.append(HEADER)
    for row in rows:
        sheet.append([row[name] if row[name] != "" else None for name in HEADER])
    for cell in sheet["G"][1:]:
        cell.number_format = "DD/MM/YYYY"
    for cell in sheet["A"][1:]:
        cell.number_format = "@"  # text: keeps the leading zeros


def write_workbook(path: Path, rows: list[dict], archive: list[dict]) -> None:
    workbook = openpyxl.Workbook()
    tasks = workbook.active
    tasks.title = "Tasks"
    write_sheet(tasks, rows)
    write_sheet(workbook.create_sheet("Archive"), archive)
    # A fixed creation date keeps the file's bytes the same on every run.
    workbook.properties.created = workbook.properties.modified = datetime(2026, 1, 1)
    workbook.save(path)


def main() -> None:
    rows = make_rows(ROWS, first_id=123, seed=2026)
    write_csv(HERE / "tasks.csv", rows)
    write_workbook(HERE / "tasks.xlsx", rows, make_rows(5, first_id=1, seed=7))
    (HERE / "tasks.mapping.yml").write_text(MAPPING, encoding="utf-8")


if __name__ == "__main__":
    main()
