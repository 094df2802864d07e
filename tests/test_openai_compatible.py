"""The OpenAI-compatible backend through :func:`actor.llm.chat_model`, with the HTTP layer
mocked by respx: the request the app sends (model, seed, stop, temperature, messages, JSON
schema), plain and streamed answers, HTTP errors, and the switch that forbids real calls.

The ``openai`` client sends through ``httpx2``/``httpcore2``; respx patches ``httpcore``'s
connection classes, so :class:`HTTPCore2Mocker` points the same patching at ``httpcore2``'s
(requests and responses have the same shape there)."""

from __future__ import annotations

import json

import httpcore2
import openai
import pytest
import respx
from respx.mocks import HTTPCoreMocker, Mocker
from respx.models import AllMockedAssertionError
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import JsonOutputParser

from actor.config import Settings
from actor.llm import ModelRequestsForbidden, chat_model, json_mode, model_id
from actor.llm.guard import ENV_SWITCH



class HTTPCore2Mocker(HTTPCoreMocker):
    """respx's ``httpcore`` mocker for ``httpcore2`` (``respx.mock(using="httpcore2")``)."""

    name = "httpcore2"
    targets = [f"httpcore2._{mode}.{module}.{prefix}{cls}" for mode, prefix in (("sync", ""), ("async", "Async"))
               for module, cls in (("connection", "HTTPConnection"), ("connection_pool", "ConnectionPool"),
                                   ("http_proxy", "HTTPProxy"))]

    @classmethod
    def from_sync_httpx_response(cls, httpx_response, target, **kwargs):
        """The mocked ``httpx.Response`` as the ``httpcore2.Response`` the transport expects."""
        return httpcore2.Response(status=httpx_response.status_code, headers=httpx_response.headers.raw,
                                  content=httpx_response.stream, extensions=httpx_response.extensions)


assert Mocker.registry["httpcore2"] is HTTPCore2Mocker
BASE = "http://llm.test/v1"
REPLY = "Ik wil nu mijn geld terug."


def completion(text: str) -> dict:
    """A non-streamed chat completion with ``text`` as the assistant's message."""
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "team-model",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}}


def event_stream(text: str) -> bytes:
    """``text`` as server-sent events, one word per chunk, then a usage chunk and ``[DONE]``."""
    def chunk(delta: dict, finish: str | None = None, **extra) -> bytes:
        body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "team-model",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    words = text.split(" ")
    out = [chunk({"role": "assistant", "content": words[0]})]
    out += [chunk({"content": " " + w}) for w in words[1:]]
    out.append(chunk({}, "stop"))
    out.append(b"data: " + json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                                       "model": "team-model", "choices": [],
                                       "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}}).encode() + b"\n\n")
    return b"".join(out) + b"data: [DONE]\n\n"


@pytest.fixture
def endpoint(monkeypatch):
    """Both roles on the OpenAI-compatible backend at :data:`BASE` (mocked), real calls allowed
    (nothing leaves the process: respx answers every request)."""
    monkeypatch.setenv("ACTOR_PERSONA__BACKEND", "openai")
    monkeypatch.setenv("ACTOR_EVALUATOR__BACKEND", "openai")
    monkeypatch.setenv("ACTOR_OPENAI_BASE_URL", BASE)
    monkeypatch.setenv("ACTOR_PERSONA__MODEL", "team-model")
    monkeypatch.setenv("ACTOR_PERSONA__SEED", "7")
    monkeypatch.setenv("ACTOR_PERSONA__TEMPERATURE", "0.9")
    monkeypatch.setenv(ENV_SWITCH, "1")
    with respx.mock(base_url=BASE, assert_all_called=False, using="httpcore2") as mock:
        yield mock


def sent(route) -> list[dict]:
    """The JSON bodies ``route`` received, in order."""
    return [json.loads(call.request.content) for call in route.calls]


def test_a_plain_call_sends_the_roles_options_and_returns_the_text(endpoint):
    route = endpoint.post("/chat/completions").respond(200, json=completion(REPLY))
    model = chat_model("persona", Settings())
    reply = model.invoke([SystemMessage("Je speelt een klant."), HumanMessage("Goedemiddag, waarmee kan ik u helpen?")],
                         stop=["Medewerker:"])
    assert reply.content == REPLY
    (body,) = sent(route)
    assert body["model"] == "team-model" and body["seed"] == 7 and body["temperature"] == 0.9
    assert body["stop"] == ["Medewerker:"] and not body.get("stream")
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("system", "Je speelt een klant."), ("user", "Goedemiddag, waarmee kan ik u helpen?")]
    assert route.calls[0].request.headers["authorization"] == "Bearer not-needed"  # local servers take any key
    assert model_id("persona", Settings()) == f"openai:team-model@{BASE}"


def test_a_streamed_call_yields_the_words_as_they_arrive(endpoint):
    route = endpoint.post("/chat/completions").respond(
        200, content=event_stream(REPLY), headers={"Content-Type": "text/event-stream"})
    chunks = [c.content for c in chat_model("persona", Settings()).stream("Goedemiddag")]
    assert [c for c in chunks if c] == ["Ik", " wil", " nu", " mijn", " geld", " terug."]
    assert "".join(chunks) == REPLY
    (body,) = sent(route)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_streaming_invoke_assembles_the_whole_line(endpoint):
    endpoint.post("/chat/completions").respond(200, content=event_stream(REPLY), headers={"Content-Type": "text/event-stream"})
    message = chat_model("persona", Settings(), streaming=True).invoke("Goedemiddag")
    assert message.content == REPLY and message.usage_metadata["output_tokens"] == 6


def test_json_mode_sends_the_schema_and_parses_the_answer(endpoint):
    schema = {"title": "Tone", "type": "object", "properties": {"tone": {"type": "integer"}}, "required": ["tone"],
              "additionalProperties": False}
    route = endpoint.post("/chat/completions").respond(200, json=completion('{"tone": 4}'))
    chain = json_mode(chat_model("evaluator", Settings()), schema, "tone") | JsonOutputParser()
    assert chain.invoke("Dank u voor uw geduld.") == {"tone": 4}
    assert sent(route)[0]["response_format"] == {"type": "json_schema", "json_schema": {"name": "tone", "schema": schema}}


def test_an_http_error_reaches_the_caller(endpoint):
    endpoint.post("/chat/completions").respond(400, json={"error": {"message": "model not found", "type": "invalid_request_error"}})
    with pytest.raises(openai.BadRequestError, match="model not found"):
        chat_model("persona", Settings()).invoke("hallo")


def test_the_switch_blocks_the_call_before_any_request(endpoint, monkeypatch):
    route = endpoint.post("/chat/completions").respond(200, json=completion(REPLY))
    monkeypatch.setenv(ENV_SWITCH, "0")
    model = chat_model("persona", Settings())
    with pytest.raises(ModelRequestsForbidden, match="real_model"):
        model.invoke("hi")
    with pytest.raises(ModelRequestsForbidden):
        list(model.stream("hi"))
    assert not route.called


def test_nothing_reaches_the_network_unmocked(endpoint):
    """A request nobody mocked fails inside the process (respx), so a test of this file can
    never talk to a real server."""
    with pytest.raises(AllMockedAssertionError, match="chat/completions"):
        chat_model("persona", Settings()).invoke("hallo")
