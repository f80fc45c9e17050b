"""A faithful local X API v2 follows emulator: world, state, app, server.

`Emulator.handle` serves in-process (`httpx.MockTransport(emulator.handle)`);
`EmulatorServer` serves the same emulator on a loopback port.
"""

from followflow.emulator.app import Emulator, OwnedAccount
from followflow.emulator.server import EmulatorServer

__all__ = ["Emulator", "EmulatorServer", "OwnedAccount"]
