"""Limits per client: subscriptions, inbound message size, and the bounded send queue.

The send queue is what a client has been sent but the kernel has not yet taken: frames
handed to the connection's socket whose write has not completed. A client that stops
reading fills it; the hub then disconnects that client (close code 4429) instead of
buffering without bound, and the other clients never wait for it, because writes never
block the fan-out loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from bobaku.hub.settings import HubSettings


@dataclass(frozen=True, slots=True)
class ClientLimits:
    max_subscriptions: int
    max_message_bytes: int
    queue_frames: int
    queue_bytes: int

    @classmethod
    def from_settings(cls, settings: HubSettings) -> ClientLimits:
        return cls(
            max_subscriptions=settings.hub_max_subscriptions,
            max_message_bytes=settings.hub_max_message_bytes,
            queue_frames=settings.hub_client_queue_frames,
            queue_bytes=settings.hub_client_queue_bytes,
        )

    def describe(self) -> dict[str, int]:
        return {
            "max_subscriptions": self.max_subscriptions,
            "max_message_bytes": self.max_message_bytes,
            "send_queue_frames": self.queue_frames,
            "send_queue_bytes": self.queue_bytes,
        }


class SendQueue:
    """Frames and bytes waiting for one client's socket."""

    __slots__ = ("bytes", "frames", "limits")

    def __init__(self, limits: ClientLimits) -> None:
        self.limits = limits
        self.frames = 0
        self.bytes = 0

    def admits(self, size: int) -> bool:
        return (
            self.frames < self.limits.queue_frames and self.bytes + size <= self.limits.queue_bytes
        )

    def added(self, size: int) -> None:
        self.frames += 1
        self.bytes += size

    def written(self, size: int) -> None:
        self.frames -= 1
        self.bytes -= size
