"""fragment-bulk: move thousands of rows between spreadsheets and Fragment.

>>> import fragment_bulk
>>> report = fragment_bulk.import_dataframe(df, sandbox=True)   # doctest: +SKIP
>>> report.summary                                             # doctest: +SKIP

The same jobs run from the shell as ``fragment-bulk import FILE``; see the README.
"""

from fragment_bulk._version import __version__
from fragment_bulk.api import (
    comment_dataframe,
    comment_file,
    export_dataframe,
    export_file,
    import_dataframe,
    import_file,
    update_dataframe,
    update_file,
)
from fragment_bulk.client import FragmentClient
from fragment_bulk.config import Settings
from fragment_bulk.engine import RunReport
from fragment_bulk.errors import (
    ApiError,
    CheckpointError,
    ConfigError,
    FragmentBulkError,
    InputError,
    ValidationError,
)
from fragment_bulk.mapping import Mapping
from fragment_bulk.sandbox import Sandbox, SandboxConfig

__all__ = [
    "ApiError",
    "CheckpointError",
    "ConfigError",
    "FragmentBulkError",
    "FragmentClient",
    "InputError",
    "Mapping",
    "RunReport",
    "Sandbox",
    "SandboxConfig",
    "Settings",
    "ValidationError",
    "__version__",
    "comment_dataframe",
    "comment_file",
    "export_dataframe",
    "export_file",
    "import_dataframe",
    "import_file",
    "update_dataframe",
    "update_file",
]
