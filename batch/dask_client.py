"""The connection to a user's dask.distributed scheduler, checked before any work.

:func:`connect_scheduler` (and :func:`scheduler_session`, its context-manager form for an
optional address) refuses, with one :class:`~ser.common.DataError` line, what would make the
run fail later: dask.distributed not installed (``pip install 'ser[dask]'``), nothing
listening at the address, something there that is not a Dask scheduler or says nothing
(the client alone would wait for ever), workers that cannot import ``ser`` or run another
version of it. :mod:`.dask_backend` runs the batches.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from ser.common.errors import DataError
from ser.common.version import __version__

__all__ = [
    "CONNECT_TIMEOUT_S",
    "SCHEDULER_ENV",
    "DaskScheduler",
    "connect_scheduler",
    "scheduler_session",
]

logger = logging.getLogger(__name__)

#: The environment variable that ``ser-annotate`` reads the scheduler's address from.
SCHEDULER_ENV = "SER_SCHEDULER"
#: Seconds to wait for the scheduler to answer before the run is refused.
CONNECT_TIMEOUT_S = 10.0


class DaskScheduler:
    """A client connected to a running Dask scheduler (see :func:`connect_scheduler`).

    A context manager: leaving it closes the client (cancelling nothing the cluster runs
    for others), and never stops the scheduler or its workers.
    """

    def __init__(self, client: Any, address: str) -> None:
        self.client = client
        self.address = address

    def threads(self) -> int:
        """Worker threads the cluster has now (0 while it has no worker)."""
        return int(sum(self.client.nthreads().values()))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close(timeout=5)

    def __enter__(self) -> DaskScheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DaskScheduler({self.address!r})"


def connect_scheduler(address: str, *, timeout: float = CONNECT_TIMEOUT_S) -> DaskScheduler:
    """Connect to the Dask scheduler at ``address`` and check its workers, before any work.

    Raises :class:`~ser.common.DataError` (one line) when dask.distributed is not installed,
    when no scheduler answers within ``timeout`` seconds, or when a connected worker cannot
    import ``ser`` or runs another version of it. A cluster without workers yet (one that
    scales up on demand) is accepted with a warning: the batch waits for them.
    """
    address = str(address).strip()
    if not address:
        raise DataError("--scheduler: empty address")
    try:
        from distributed import Client
    except ImportError:
        raise DataError(
            f"--scheduler {address}: dask.distributed is not installed; "
            "install it with: pip install 'ser[dask]'"
        ) from None
    _probe(address, timeout)
    try:
        client = Client(address, timeout=timeout, set_as_default=False, name="ser")
    except Exception as exc:  # OSError (refused, timed out), ValueError (bad address), ...
        raise _unanswered(address, exc) from None
    try:
        _check_workers(client, address)
    except BaseException:
        with contextlib.suppress(Exception):
            client.close(timeout=5)
        raise
    return DaskScheduler(client, address)


@contextlib.contextmanager
def scheduler_session(address: str | None) -> Iterator[DaskScheduler | None]:
    """``with scheduler_session(address) as cluster``: a connected :class:`DaskScheduler`,
    closed on the way out; None (and nothing done) when ``address`` is None or empty."""
    if not address:
        yield None
        return
    with connect_scheduler(address) as cluster:
        yield cluster


def _probe(address: str, timeout: float) -> None:
    """Ask what answers at ``address`` what it is, within ``timeout`` seconds."""
    import asyncio  # here: importing ser.batch stays light
    import concurrent.futures
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.core import rpc

    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls"):  # refused or unknown host: now (the client would retry)
            socket.create_connection(parse_host_port(location), timeout=timeout).close()
    except (ConnectionRefusedError, socket.gaierror, ValueError, TypeError) as exc:
        raise _unanswered(address, exc) from None
    except OSError:  # a timeout: the identity call below says it
        pass

    async def identity() -> Any:
        remote = rpc(address, timeout=timeout)
        try:
            return await asyncio.wait_for(remote.identity(), timeout)
        finally:
            await remote.close_rpc()

    # in a thread of its own, with its own event loop (the caller may be running one)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ser-dask-probe") as pool:
        try:
            info = pool.submit(asyncio.run, identity()).result()
        except (asyncio.TimeoutError, TimeoutError):
            raise _unanswered(address, f"nothing answered within {timeout:g} s") from None
        except Exception as exc:
            raise _unanswered(address, exc) from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind != "Scheduler":
        raise DataError(f"--scheduler {address}: that is a Dask {kind or 'peer'}, not a scheduler")


def _unanswered(address: str, why: object) -> DataError:
    reason = _one_line(why) if isinstance(why, BaseException) else str(why)
    return DataError(f"--scheduler {address}: no Dask scheduler answers there ({reason})")


def _check_workers(client: Any, address: str) -> None:
    """Every connected worker imports this ``ser`` version (the features must be the same)."""
    facts = client.run(_worker_facts, on_error="return")
    if not facts:
        logger.warning(
            "the Dask scheduler at %s has no workers yet: the run waits for some", address
        )
        return
    for worker, got in sorted(facts.items()):
        if isinstance(got, BaseException):
            raise DataError(
                f"--scheduler {address}: worker {worker} cannot run ser tasks "
                f"({_one_line(got)}); install ser (with its dependencies) in the workers' "
                "environment"
            )
        if got != __version__:
            raise DataError(
                f"--scheduler {address}: worker {worker} runs ser {got}, this is ser "
                f"{__version__}; install the same version on the workers"
            )


def _worker_facts() -> str:
    """Runs in each worker (``Client.run``): the ser version it imports."""
    return __version__


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
