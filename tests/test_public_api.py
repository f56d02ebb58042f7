"""The public Python API is exactly what the README promises, and nothing leaks by accident."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest

import fragment_bulk
from fragment_bulk.errors import ConfigError, InputError

PUBLIC = {
    "ApiError", "CheckpointError", "ConfigError", "FragmentBulkError", "FragmentClient", "InputError",
    "Mapping", "RunReport", "Sandbox", "SandboxConfig", "Settings", "ValidationError", "__version__",
    "comment_dataframe", "comment_file", "import_dataframe", "import_file", "update_dataframe", "update_file",
    "export_dataframe", "export_file",
}


def test_all_is_exactly_the_public_api():
    assert set(fragment_bulk.__all__) == PUBLIC
    for name in fragment_bulk.__all__:
        assert hasattr(fragment_bulk, name), name


def test_file_and_frame_importers_take_the_same_options():
    file_options = set(inspect.signature(fragment_bulk.import_file).parameters) - {"path", "encoding", "delimiter", "sheet", "header_row"}
    frame_options = set(inspect.signature(fragment_bulk.import_dataframe).parameters) - {"frame"}
    assert file_options == frame_options


def test_column_names_are_taken_as_a_notebook_writes_them(sandbox, client):
    frame = pd.DataFrame({"title": ["a"], "Notes": ["secret"], "SSN": ["123"], 0: ["x"]})
    fragment_bulk.import_dataframe(frame, ignore="Notes", keys="SSN", maps={0: "fields.zero"}, client=client)
    [task] = sandbox.tasks()
    assert task["fields"] == {"title": "a", "ssn": "123", "zero": "x"}  # "Notes" is one column, not five letters
    with pytest.raises(InputError, match="the column 'SNN' to ignore is not in the input"):
        fragment_bulk.import_dataframe(frame, ignore=["SNN"], client=client)  # a typo must not send SSN
    with pytest.raises(InputError, match="the column 'Title' to type is not in the input"):
        fragment_bulk.import_dataframe(frame, types={"Title": "str"}, client=client)
    report = fragment_bulk.import_dataframe(frame, mapping={"columns": {"title": "title"}, "others": "ignore"}, client=client)
    assert report.counts["created"] == 1  # a plain dict is a mapping too


def test_wrong_arguments_are_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"takes a pandas DataFrame, not a Series \(series.to_frame"):
        fragment_bulk.import_dataframe(pd.Series(["a"], name="title"), sandbox=True)
    with pytest.raises(ConfigError, match="maps= takes a dict"):
        fragment_bulk.import_dataframe(pd.DataFrame({"title": ["a"]}), maps=["title"], sandbox=True)
    with pytest.raises(ConfigError, match="cannot keep the sandbox's data in"):
        fragment_bulk.import_dataframe(pd.DataFrame({"title": ["a"]}), sandbox=tmp_path / "missing" / "x.sqlite")


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"batch_size": 0}, ConfigError, r"batch_size=0: give a whole number from 1 to 1000"),  # the CLI's limits
    ({"batch_size": 5000}, ConfigError, r"batch_size=5000: give a whole number from 1 to 1000"),
    ({"batch_size": "10"}, ConfigError, r"batch_size='10'"),
    ({"concurrency": 0}, ConfigError, r"concurrency=0: give a whole number from 1 to 64"),
    ({"rate": -5}, ConfigError, r"rate -5: give requests per minute"),
    ({"settings": {"token": "t"}}, ConfigError, r"settings= takes a fragment_bulk.Settings"),
    ({"results": True}, ConfigError, r"results= takes a file path"),
    ({"sandbox": 1}, ConfigError, r"sandbox= takes True, the path of its data file, or a Sandbox"),
])
def test_options_out_of_range_or_of_the_wrong_kind_are_one_clear_error(tmp_path, arguments, error, message):
    frame = pd.DataFrame({"title": ["a"]})
    with pytest.raises(error, match=message):
        fragment_bulk.import_dataframe(frame, **{"sandbox": tmp_path / "sb.sqlite", **arguments})


def test_files_and_export_options_are_taken_as_the_command_line_gives_them(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(InputError, match="folder.csv: a folder, not a file"):
        fragment_bulk.import_file(tmp_path / "folder.csv", sandbox=True)
    with pytest.raises(ConfigError, match="for a DataFrame, import_dataframe"):
        fragment_bulk.import_file(pd.DataFrame({"title": ["a"]}), sandbox=True)
    sandbox = tmp_path / "sb.sqlite"
    fragment_bulk.import_dataframe(pd.DataFrame({"title": ["a", "b"], "country": ["FR", "DE"]}), sandbox=sandbox, rate=0)
    report = fragment_bulk.export_file(tmp_path / "fr.csv", filters=["country=FR"], columns="title, country", sandbox=sandbox)
    assert pd.read_csv(report.path, dtype=str).to_dict("records") == [{"title": "a", "country": "FR"}]
    assert list(fragment_bulk.export_dataframe(filters="country=DE", columns="title", sandbox=sandbox)["title"]) == ["b"]
    with pytest.raises(ConfigError, match=r"a filter is KEY=VALUE \(e.g. country=FR; in Python also a dict\), not 'country'"):
        fragment_bulk.export_file(tmp_path / "x.csv", filters=["country"], sandbox=sandbox)
    with pytest.raises(ConfigError, match="the filter 'country' is given twice"):  # as the CLI says it
        fragment_bulk.export_file(tmp_path / "x.csv", filters=["country=FR", "country=DE"], sandbox=sandbox)
    with pytest.raises(TypeError, match=r"export_dataframe\(\) got an unexpected keyword argument 'filter' \(did you mean"):
        fragment_bulk.export_dataframe(filter={"country": "FR"}, sandbox=sandbox)


def test_a_misspelt_option_is_named_with_the_one_meant():
    with pytest.raises(TypeError, match=r"update_dataframe\(\) got an unexpected keyword argument 'key' \(did you mean 'keys'\?\)"):
        fragment_bulk.update_dataframe(pd.DataFrame({"uid": ["x"]}), key=["id"], sandbox=True)
    with pytest.raises(TypeError, match=r"comment_file\(\) .* 'text_col' \(did you mean 'text_column'\?\)"):
        fragment_bulk.comment_file("comments.csv", text_col="body")


def test_python_errors_name_the_keyword_too():
    frame = pd.DataFrame({"title": ["a"]})
    with pytest.raises(InputError, match=r"--type \(types=\): column 'title' goes to title"):
        fragment_bulk.import_dataframe(frame, types={"title": "int"}, sandbox=True)
    with pytest.raises(InputError, match=r"--empty \(empty=\) must be one of omit, null"):
        fragment_bulk.import_dataframe(frame, empty="none", sandbox=True)
    with pytest.raises(InputError, match="^the DataFrame has no columns$"):
        fragment_bulk.import_dataframe(pd.DataFrame(), sandbox=True)
