"""Firmware updates' rules: what each reported status means, and what a request must hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ampnexus.domain.errors import Invalid
from ampnexus.domain.firmware import (
    Signing,
    UpdateSpec,
    UpdateState,
    UploadOptions,
    safe_file_name,
    state_after,
)

NOW = datetime(2026, 12, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Downloading", UpdateState.DOWNLOADING),
        ("Downloaded", UpdateState.DOWNLOADED),
        ("SignatureVerified", UpdateState.DOWNLOADED),
        ("InstallRebooting", UpdateState.INSTALLING),
        ("Installed", UpdateState.INSTALLED),
        ("InvalidSignature", UpdateState.FAILED),
        ("InstallVerificationFailed", UpdateState.FAILED),
        ("DownloadFailed", UpdateState.FAILED),
    ],
)
def test_each_status_moves_the_update(status, state):
    assert state_after(UpdateState.PENDING, status) is state


def test_idle_changes_nothing():
    assert state_after(UpdateState.INSTALLED, "Idle") is UpdateState.INSTALLED


def test_a_spec_names_one_firmware():
    with pytest.raises(Invalid):
        UpdateSpec(location="http://x/fw", firmware_id=1, retrieve_at=NOW)
    with pytest.raises(Invalid):
        UpdateSpec(location=None, firmware_id=None, retrieve_at=NOW)
    with pytest.raises(Invalid):  # an install date is the whitepaper's, for signed updates
        UpdateSpec(location="http://x/fw", firmware_id=None, retrieve_at=NOW, install_at=NOW)


def test_signing_needs_a_pem_certificate():
    with pytest.raises(Invalid):
        Signing("MIIB...", "c2ln")


def test_a_period_runs_forward():
    with pytest.raises(Invalid):
        UploadOptions(since=NOW, until=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("fw-2.0.bin", "fw-2.0.bin"),
        ("../../etc/passwd", "passwd"),
        ("C:\\builds\\fw.bin", "fw.bin"),
        ('a"b;c.bin', "abc.bin"),
        ("..", "fallback"),
        ("naïve.bin", "nave.bin"),
    ],
)
def test_file_names_are_made_safe(given, kept):
    assert safe_file_name(given, "fallback") == kept
