"""Safe extraction of the tar(.gz) archives cloudml reads (bundles, model artifacts).

Invariant: nothing is written unless every member header passes first: no absolute path, ``..`` or path outside
the destination, no link or device, at most ``MAX_EXTRACT_MEMBERS`` members and ``MAX_EXTRACT_BYTES`` in all, and
(past ``RATIO_FLOOR``) at most ``MAX_EXTRACT_RATIO`` times the archive's own size; a damaged archive is a
``BundleError`` naming the file.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from pathlib import Path

from cloudml.errors import BundleError, UnsafeArchiveError

MAX_EXTRACT_MEMBERS = 200_000
MAX_EXTRACT_BYTES = 64 * 1024**3
MAX_EXTRACT_RATIO = 200          # uncompressed / compressed, checked once an archive expands beyond RATIO_FLOOR
RATIO_FLOOR = 256 * 1024**2


def safe_extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                 max_members: int = MAX_EXTRACT_MEMBERS, max_bytes: int = MAX_EXTRACT_BYTES,
                 max_ratio: float = MAX_EXTRACT_RATIO) -> list[str]:
    """Extract a tar(.gz) into ``dest``, refusing (before writing anything) any member that would land outside it
    or is a link/device, and archives with more than ``max_members`` members, more than ``max_bytes`` in all, or
    (past 256 MiB) more than ``max_ratio`` times their own size: ``UnsafeArchiveError`` naming the limit."""
    dest_path = Path(dest).resolve()
    packed = max(os.path.getsize(archive), 1)
    names = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            total = count = 0
            for m in tar:   # headers only: a member's size is known before its data is read
                count += 1
                total += m.size
                if count > max_members:
                    raise UnsafeArchiveError(f"refusing to extract {archive}: more than {max_members} members")
                if total > max_bytes:
                    raise UnsafeArchiveError(f"refusing to extract {archive}: it expands to more than "
                                             f"{max_bytes / 1024**3:.1f} GiB")
                if total > RATIO_FLOOR and total / packed > max_ratio:
                    raise UnsafeArchiveError(f"refusing to extract {archive}: it expands {total / packed:.0f}x "
                                             f"(more than {max_ratio:.0f}x its {packed} bytes; a decompression bomb?)")
                target = (dest_path / m.name).resolve()
                if os.path.isabs(m.name) or not target.is_relative_to(dest_path) or ".." in Path(m.name).parts:
                    raise UnsafeArchiveError(f"refusing to extract {m.name!r}: it would be written outside {dest}")
                if not (m.isfile() or m.isdir()):
                    raise UnsafeArchiveError(f"refusing to extract {m.name!r}: links and devices are not allowed")
            dest_path.mkdir(parents=True, exist_ok=True)
            for m in tar.getmembers():
                tar.extract(m, dest_path, filter="data")
                names.append(m.name)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise BundleError(f"{archive} is not a readable tar archive ({type(exc).__name__}: {exc}); "
                          "it may be truncated or not a .tar.gz") from None
    return names
