"""SaveError: what failed, the space a save needs, the folder and the advice for each error."""
from __future__ import annotations

import errno
import os

import pytest

from lib.errors import FaceswapError
from lib.model.save_error import SaveError, format_bytes, save_error, write_error_in


def test_save_error_names_the_space_and_folder_for_each_code(tmp_path):
    sizes = {"model file": 3 * 1024 * 1024, "state file": 2048}
    for code, advice in ((errno.ENOSPC, "disk is full"), (errno.EIO, "I/O error"),
                         (errno.EFBIG, "larger than"), (errno.EDQUOT, "quota")):
        err = save_error("the model", tmp_path, OSError(code, os.strerror(code)), sizes,
                         target=tmp_path / "tiny.keras")
        assert isinstance(err, OSError) and err.errno == code and err.needed == sum(sizes.values())
        text = str(err)
        assert "writing 'tiny.keras'" in text and str(tmp_path) in text and advice in text
        assert "about 3.0 MiB" in text and "model file 3.0 MiB, state file 2.0 KiB" in text
        assert f"errno {errno.errorcode[code]}" in text and "free now" in text


def test_format_bytes():
    assert [format_bytes(count) for count in (0, 1023, 1536, 5 * 1024 ** 2, 3 * 1024 ** 4)] == [
        "0 bytes", "1023 bytes", "1.5 KiB", "5.0 MiB", "3072.0 GiB"]


def test_write_error_in_finds_the_errno_behind_a_wrapper():
    inner = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise inner
        except OSError as err:
            raise RuntimeError("h5py: file write failed") from err
    except RuntimeError as outer:
        assert write_error_in(outer) is inner
    assert write_error_in(ValueError("not a write")) is None
    plain = OSError("no errno")
    assert write_error_in(plain) is plain


def test_save_error_is_a_faceswap_error_and_an_os_error():
    err = save_error("a snapshot", "/nowhere", OSError(errno.EIO, "x"), {"snapshot": 10},
                     kept="The model itself was saved.")
    assert isinstance(err, SaveError) and isinstance(err, FaceswapError)
    with pytest.raises(OSError):
        raise err
    assert str(err).endswith("Training stopped. The model itself was saved.")
    assert "free now" not in str(err)  # the folder does not exist: no free space to report
    assert os.strerror(errno.EIO) in str(err)
