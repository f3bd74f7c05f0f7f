"""A deterministic fake LLM provider: latency and failures from the deployment's params.

No network. Each deployment gets its own random stream seeded from the
provider seed and the deployment id, so a run with the same seed and the same
order of calls per deployment fails at the same calls.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections.abc import Sequence
from typing import Any

from router_demo.config import Deployment
from router_demo.errors import ProviderError

Message = dict[str, Any]
_ids = itertools.count(1)


class FakeProvider:
    def __init__(self, seed: int | None = None) -> None:
        self._seed = 0 if seed is None else seed
        self._streams: dict[str, random.Random] = {}
        self._lock = threading.Lock()

    def _fails(self, deployment: Deployment) -> bool:
        if deployment.failure_rate <= 0:
            return False
        with self._lock:
            stream = self._streams.get(deployment.id)
            if stream is None:
                stream = self._streams[deployment.id] = random.Random(f"{self._seed}/{deployment.id}")
            return stream.random() < deployment.failure_rate

    def _answer(self, deployment: Deployment, messages: Sequence[Message]) -> dict[str, Any]:
        if self._fails(deployment):
            raise ProviderError(f"deployment {deployment.id!r} failed (mock_failure_rate={deployment.failure_rate})")
        prompt = str(messages[-1].get("content", "")) if messages else ""
        content = f"[{deployment.model}] {prompt[:200]}"
        return {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": deployment.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": len(content.split()),
                "total_tokens": len(prompt.split()) + len(content.split()),
            },
            "deployment_id": deployment.id,
        }

    def complete(self, deployment: Deployment, messages: Sequence[Message]) -> dict[str, Any]:
        if deployment.latency_ms:
            time.sleep(deployment.latency_ms / 1000)
        return self._answer(deployment, messages)

    async def acomplete(self, deployment: Deployment, messages: Sequence[Message]) -> dict[str, Any]:
        if deployment.latency_ms:
            await asyncio.sleep(deployment.latency_ms / 1000)
        return self._answer(deployment, messages)
