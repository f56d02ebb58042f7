"""Shared fixtures: a sandbox with the rate limit off, and our client wired to it in-process."""

from __future__ import annotations

import pytest

from fragment_bulk.client import FragmentClient
from fragment_bulk.config import Settings
from fragment_bulk.retry import RetryPolicy
from fragment_bulk.sandbox import Sandbox, SandboxConfig

TOKEN = "sandbox-token"


@pytest.fixture
def sandbox():
    with Sandbox(SandboxConfig(token=TOKEN, rate_per_min=None)) as sb:
        yield sb


def make_client(sb: Sandbox, *, rate_per_min=None, retry: RetryPolicy | None = None, transport=None, **settings) -> FragmentClient:
    """Our client talking to ``sb`` through the in-process transport (or ``transport`` over it)."""
    chosen = Settings(token=sb.config.token, base_url=sb.base_url, rate_per_min=rate_per_min, **settings)
    return FragmentClient(chosen, transport=transport or sb.transport(), retry=retry)


@pytest.fixture
def client(sandbox):
    with make_client(sandbox, retry=RetryPolicy(floor=0.01, cap=0.2)) as c:
        yield c
