"""The sandbox upstream: an OpenAI-compatible fake provider on loopback with scripted behaviour.

Tests and the offline demo use it; production never does.
"""

from annas_gift.sandbox.behavior import Behavior, BehaviorError, parse_behavior
from annas_gift.sandbox.runner import RunningSandbox, SandboxServer, run, start_in_thread
from annas_gift.sandbox.server import BEHAVIOR_HEADER
from annas_gift.sandbox.state import RecordedRequest

__all__ = [
    "BEHAVIOR_HEADER",
    "Behavior",
    "BehaviorError",
    "RecordedRequest",
    "RunningSandbox",
    "SandboxServer",
    "parse_behavior",
    "run",
    "start_in_thread",
]
