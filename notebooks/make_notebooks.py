"""Write the notebooks from the cells below: ``python notebooks/make_notebooks.py``.

Notebooks are generated so their source stays reviewable as plain Python; ``tests/test_notebooks.py``
executes both against the sandbox (and checks they match this script), so they cannot rot.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).parent

QUICKSTART = [
    ("md", """# fragment-bulk quickstart

Start a local Fragment sandbox, import a DataFrame, look at the report and the failed rows,
export the tasks back to a DataFrame, and chart them. Nothing here touches the real service."""),
    ("code", """import pandas as pd
import fragment_bulk
from fragment_bulk import Sandbox, SandboxConfig

sandbox = Sandbox(SandboxConfig(rate_per_min=None))  # in memory, no rate limit: instant"""),
    ("md", "A DataFrame as it comes from anywhere: missing values, nullable integers, time zones, an invalid status."),
    ("code", """df = pd.DataFrame({
    "Ticket ID": ["00101", "00102", "00103", "00104", "00105"],
    "title": ["Replace badge reader", "Renew TLS certificate", "Order toner", "Fix VPN", "Archive 2024 invoices"],
    "country": ["FR", "DE", "FR", "ES", None],
    "priority": pd.array([1, 3, None, 2, 5], dtype="Int64"),
    "status": ["Open", "Closed", "Open", "In progress", "Pending"],
    "due_at": pd.to_datetime(["2026-12-01 09:00", None, "2026-12-03 17:30", "2026-12-04 08:00", "2026-12-05 12:00"]).tz_localize("Europe/Paris"),
})
df"""),
    ("md", "Status names need a value map; `Pending` has none, so that row is invalid. `skip_invalid=True` sends the others."),
    ("code", """mapping = fragment_bulk.Mapping.from_dict({
    "key": ["Ticket ID"],  # the uid of each task is derived from its ticket id
    "columns": {"status": {"target": "status", "values": {"Open": "TODO", "In progress": "STARTED", "Closed": "DONE"}}},
    # the other columns are inferred: title -> title, due_at -> due_at, the rest -> custom fields
})
report = fragment_bulk.import_dataframe(df, mapping=mapping, skip_invalid=True, sandbox=sandbox)
print(report.summary_line())
report.summary"""),
    ("code", "report.failed[['_row', '_status', '_error']]"),
    ("code", """assert report.counts["created"] == 4 and report.counts["failed"] == 1
# Running it again creates nothing: every row has a deterministic uid.
again = fragment_bulk.import_dataframe(df, mapping=mapping, skip_invalid=True, sandbox=sandbox)
again.summary"""),
    ("md", "Export what is on the server back to a DataFrame (every custom field becomes a column)."),
    ("code", """tasks = fragment_bulk.export_dataframe(sandbox=sandbox)
tasks[["uid", "status", "title", "country", "priority", "due_at"]]"""),
    ("md", """"Renew TLS certificate" had no due date, so the server set its `due_at` to the moment it created
the task (the API contract's default, which the sandbox follows); every time comes back in UTC."""),
    ("code", """assert len(tasks) == 4
tasks.groupby("status").size().plot.bar(title="Tasks by status");"""),
    ("code", "sandbox.close()"),
]

MIGRATION = [
    ("md", """# A realistic migration, rehearsed on the sandbox

A messy spreadsheet export (`sample_data/tasks.csv`: a BOM, ids with leading zeros, dd/mm/YYYY
dates, status names from another tool), a mapping file, a dry run, an import that gets
interrupted and resumes, and a round trip through an export."""),
    ("code", """import shutil
from pathlib import Path

import pandas as pd
import fragment_bulk
from fragment_bulk import Sandbox, SandboxConfig, Settings

ROOT = Path.cwd() if (Path.cwd() / "sample_data").exists() else Path.cwd().parent
work = Path("migration-work")
work.mkdir(exist_ok=True)
source = work / "tasks.csv"
shutil.copy(ROOT / "sample_data" / "tasks.csv", source)
sandbox = Sandbox(SandboxConfig(rate_per_min=None, db_path=work / "sandbox.sqlite"))
sandbox.reset()
pd.read_csv(source, dtype=str, keep_default_na=False).head()  # as text: "00123" and "NA" (Namibia) intact"""),
    ("md", "Start from the inferred mapping, then say what the automatic guess cannot know."),
    ("code", """print(fragment_bulk.Mapping.infer(pd.read_csv(source, nrows=0).columns).to_yaml())"""),
    ("code", """print((ROOT / "sample_data" / "tasks.mapping.yml").read_text())
mapping = ROOT / "sample_data" / "tasks.mapping.yml\""""),
    ("md", "A dry run validates every row and prints the plan; nothing is sent."),
    ("code", """plan = fragment_bulk.import_file(source, mapping=mapping, dry_run=True)
print(plan.summary_line())"""),
    ("md", """Now the import, against a flaky server: one request in three fails, and the client is told to
give up after two attempts (the default is 12, over up to 5 minutes). Batches of 5 rows go one at
a time; a few succeed, then one fails twice and the run stops. Every acknowledged batch is in the
checkpoint beside the input (`tasks.csv.fragment-checkpoint`)."""),
    ("code", """sandbox.configure(fault_5xx=0.3, seed=4)  # seeded: the same requests fail on every run
impatient = Settings(max_attempts=2, rate_per_min=None)
try:
    fragment_bulk.import_file(source, mapping=mapping, sandbox=sandbox, settings=impatient,
                              batch_size=5, concurrency=1, log=print)
except fragment_bulk.FragmentBulkError as error:
    print("stopped:", error)
saved = sandbox.task_count()
assert 0 < saved < 50, saved  # stopped partway: some batches are on the server, not all"""),
    ("md", """The server recovers. Run exactly the same call again: it resumes from the checkpoint, skips the
rows already acknowledged and sends the rest."""),
    ("code", """sandbox.configure(fault_5xx=0.0)
report = fragment_bulk.import_file(source, mapping=mapping, sandbox=sandbox, settings=impatient,
                                   batch_size=5, concurrency=1, log=print)
print(report.summary_line())
assert report.exit_code == 0 and report.plan.already_done == saved and report.plan.to_send == 50 - saved
tickets = fragment_bulk.export_dataframe(sandbox=sandbox)["ticket_id"]
assert sorted(tickets) == sorted(pd.read_csv(source, dtype=str)["Ticket ID"])  # every row, exactly once"""),
    ("md", "Round trip: export, edit one cell, import the file back. Only that task changes."),
    ("code", """exported = work / "export.csv"
fragment_bulk.export_file(exported, sandbox=sandbox)
edited = pd.read_csv(exported, dtype=str, keep_default_na=False)
edited.loc[0, "priority"] = "1" if edited.loc[0, "priority"] != "1" else "2"  # one cell of one task
edited.to_csv(exported, index=False)
round_trip = fragment_bulk.import_file(exported, sandbox=sandbox)
round_trip.summary"""),
    ("code", """assert round_trip.counts["updated"] == 1 and round_trip.counts["unchanged"] == 49
sandbox.close()
shutil.rmtree(work)"""),
]


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        for kind, text in cells
    ]
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"  # stable ids keep the generated files byte-for-byte reproducible
    return notebook


NOTEBOOKS = {"quickstart.ipynb": QUICKSTART, "migration.ipynb": MIGRATION}


def render(name: str) -> str:
    return nbformat.writes(build(NOTEBOOKS[name]))


if __name__ == "__main__":
    for name in NOTEBOOKS:
        (HERE / name).write_text(render(name), encoding="utf-8")
        print(f"wrote {HERE / name}")
