"""The embeddings service: POST /v1/embeddings through the chat service's attempt loop.

Embeddings reuse everything a chat attempt goes through (credentials, client and model limits,
the VPN, fallbacks, usage rows, health), so the two cannot drift apart; only the planning
differs: there is no `auto`, because vectors from different models cannot be compared.
"""

from __future__ import annotations

from typing import Any

from annas_gift.core import errors
from annas_gift.core.types import AUTO_MODELS, ChatInput, RequestContext
from annas_gift.services.chat import ChatService
from annas_gift.services.types import ChatResult

# The request fields an embeddings call passes to the provider (OpenAI's, minus `model`).
EMBEDDING_FIELDS = ("input", "dimensions", "encoding_format", "user")


def estimate_input_tokens(value: Any) -> int:
    """A cheap estimate of an embeddings input's tokens (4 characters a token, ids as given)."""
    if isinstance(value, str):
        return len(value) // 4 + 1
    if not isinstance(value, list):
        return 0
    if all(isinstance(item, int) for item in value):
        return len(value)
    return sum(estimate_input_tokens(item) for item in value)


def embedding_input(
    model: str, params: dict[str, Any], fallbacks: list[str] | None = None
) -> ChatInput:
    """The service input of an embeddings request: no messages, OpenAI's fields as params."""
    kept = {name: params[name] for name in EMBEDDING_FIELDS if params.get(name) is not None}
    return ChatInput(model=model, messages=[], params=kept, fallbacks=list(fallbacks or ()))


class EmbeddingService:
    """Embeds inputs with a catalog model of `mode: embedding`, falling back as asked."""

    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    async def embed(self, inp: ChatInput, ctx: RequestContext) -> ChatResult:
        """Admit the client, try the named model and its fallbacks, record usage and cost."""
        if inp.model in AUTO_MODELS:
            raise errors.InvalidRequest(
                f"'{inp.model}' routes chats only: vectors from different models cannot be "
                "compared, so name an embedding model (GET /v1/models lists them)",
                param="model",
                code="model_not_supported",
            )
        chat = self.chat
        est = estimate_input_tokens(inp.params.get("input"))
        # The key's allowed models and budgets as for chat; each attempt's estimate is reserved
        # inside `chat.run` and settled at the real cost below.
        chat.parts.budgets.check_request(ctx.key_id, inp)
        await chat.parts.limits.admit_client(ctx.key_id, est)
        plan = chat.plan(inp, mode="embedding")
        rec = chat.recorder_for(inp, ctx)
        done = await chat.run(plan, rec, chat.upstream.embed, stream=False, est_tokens=est)
        result = done.value
        cost = rec.usage(
            done.model, result.usage, status=200, latency_ms=done.took_ms, stream=False,
            decided=(plan, done.attempts),
        )  # fmt: skip
        await chat.parts.budgets.settle(done.hold, cost)
        rec.settled(done, result.usage, result.provider_headers, done.took_ms)
        # The trace keeps the request but not the vectors (large, and no use to read).
        rec.trace(plan, done.attempts, done.model, status=200, usage=result.usage, cost_usd=cost)
        return ChatResult(result, done.model, plan, done.attempts, cost, done.took_ms)
