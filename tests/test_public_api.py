"""The public Python API is exactly what the README promises, and nothing leaks by accident."""

from __future__ import annotations

import inspect

import fragment_bulk

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
    file_options = set(inspect.signature(fragment_bulk.import_file).parameters) - {"path", "encoding", "delimiter", "sheet"}
    frame_options = set(inspect.signature(fragment_bulk.import_dataframe).parameters) - {"frame"}
    assert file_options == frame_options
