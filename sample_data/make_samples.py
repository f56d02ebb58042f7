"""Writes the sample inputs: a messy ticket export as CSV and Excel, and its mapping file.

Deterministic (seeded): running it again rewrites the same files. Run from anywhere:

    python sample_data/make_samples.py

- ``tasks.csv``: UTF-8 with a BOM (as Excel saves it), comma-separated; zero-padded ticket ids,
  dd/mm/YYYY dates, empty cells, a note over several lines and one with accents.
- ``tasks.xlsx``: sheet "Tasks" with the same rows (real date cells, whole numbers), and sheet
  "Archive" with a few older rows.
- ``tasks.mapping.yml``: how those columns become tasks (found beside tasks.csv by ``import``).
- ``changes.csv``: new statuses for a few of those tickets, for ``fragment-bulk update``.
- ``comments.csv``: a comment for a few of those tickets, for ``fragment-bulk comment``.

Both name their tickets by ``Ticket ID``, so pass ``--mapping sample_data/tasks.mapping.yml``:
its key and namespace make the same uids as the import (and its value map reads the statuses).
"""

from __future__ import annotations

import csv
import io
import random
import re
import zipfile
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


# (Ticket ID, Status) in the source tool's words; each differs from the ticket's status in tasks.csv.
CHANGES = [("00124", "Closed"), ("00128", "Closed"), ("00130", "In progress")]
# One comment per ticket: comments are posted concurrently, so two on one task may land in either order.
COMMENTS = [
    ("00124", "Refund sent to the customer, closing"),
    ("00128", "Reset link fixed by the identity team"),
    ("00130", "Carrier contacted: new delivery date on Friday"),
]


def write_plain_csv(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


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
    workbook.properties.created = datetime(2026, 1, 1)
    buffer = io.BytesIO()
    workbook.save(buffer)
    # openpyxl stamps the save time into docProps/core.xml and every zip entry; fixed stamps keep
    # the file's bytes the same on every run.
    with zipfile.ZipFile(buffer) as saved, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as fixed:
        for entry in saved.infolist():
            data = saved.read(entry)
            if entry.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z", data)
            fixed.writestr(zipfile.ZipInfo(entry.filename, date_time=(2026, 1, 1, 0, 0, 0)), data,
                           compress_type=zipfile.ZIP_DEFLATED)


def main() -> None:
    rows = make_rows(ROWS, first_id=123, seed=2026)
    write_csv(HERE / "tasks.csv", rows)
    write_workbook(HERE / "tasks.xlsx", rows, make_rows(5, first_id=1, seed=7))
    (HERE / "tasks.mapping.yml").write_text(MAPPING, encoding="utf-8")
    write_plain_csv(HERE / "changes.csv", ["Ticket ID", "Status"], CHANGES)
    write_plain_csv(HERE / "comments.csv", ["Ticket ID", "Comment"], COMMENTS)


if __name__ == "__main__":
    main()
