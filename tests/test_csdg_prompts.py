"""Contextual prompts: the instruction, the offline composer, and LLM backends against a local fake server."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from fairlab.aimfair import prompts as P
from fairlab.aimfair.settings import SETTINGS
from fairlab.faceworld.phrases import states

SM = SETTINGS["CelebA S/M"]


def test_the_instruction_has_the_papers_six_fields():
    text = P.instruction(SM, 1, 1, 50, head_poses=True)
    assert "Write 50" in text and "smiling and male" in text and "wavy hair" in text and "head pose" in text
    assert "Portrait face photo of a smiling male" in text
    assert "head pose" not in P.instruction(SM, 1, 1, 25, head_poses=False)
    assert "ages spanning 1 to 100" in P.instruction(SETTINGS["UTK F/W"], 0, 0, 50)


def test_plain_prompts_name_the_group():
    assert P.plain_prompt(SM, 1, 1) == "Portrait face photo of a smiling male."
    assert P.plain_prompt(SM, 0, 0) == "Portrait face photo of a non-smiling female."
    assert P.plain_prompt(SETTINGS["CelebA S/Y"], 0, 1) == "Portrait face photo of a non-smiling young person."


@pytest.mark.parametrize("label", list(SETTINGS))
def test_the_composer_gives_valid_distinct_prompts_for_every_group(label):
    setting = SETTINGS[label]
    result = P.collect(P.ComposerBackend(), setting, 25, head_poses=True, seed=3)
    for group, texts in result.prompts.items():
        t, s = int(group[0]), int(group[2])
        assert len(texts) == 25 and len({x.lower() for x in texts}) == 25
        assert all(states(x, setting.target, t) and states(x, setting.protected, s) for x in texts)
    again = P.collect(P.ComposerBackend(), setting, 25, head_poses=True, seed=3)
    assert again.prompts == result.prompts  # deterministic


def test_prompts_without_head_poses_do_not_mention_the_head_pose():
    result = P.collect(P.ComposerBackend(), SM, 10, head_poses=False, seed=0)
    assert not any("head" in x for texts in result.prompts.values() for x in texts)


def test_parse_removes_numbering_bullets_and_quotes():
    text = '1. "Portrait face photo of a smiling male with a hat."\n- Portrait face photo of a smiling male.\n\nok\n2) A photo of X Y'
    assert P.parse_prompts(text) == ["Portrait face photo of a smiling male with a hat.",
                                      "Portrait face photo of a smiling male.", "A photo of X Y"]


class FakeChatServer:
    """A local OpenAI-compatible server answering from a script of replies (text, or a status code)."""

    def __init__(self, replies, key="sk-test-secret-123"):
        self.replies, self.key, self.requests = list(replies), key, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                reply = outer.replies.pop(0) if len(outer.replies) > 1 else outer.replies[0]
                if isinstance(reply, tuple):  # (status, reason phrase): a reason may echo the request's header
                    code, reason = reply
                    self.send_response(code, reason.format(auth=self.headers.get("Authorization")))
                    self.end_headers()
                    return
                if isinstance(reply, int):
                    self.send_response(reply)
                    self.end_headers()
                    return
                if reply.startswith("RAW:"):  # a malformed answer, sent as is
                    data = reply[4:].encode()
                else:
                    data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def close(self):
        self.server.shutdown()


def valid(group_words, n, start=0):
    return "\n".join(f"{i + 1}. Portrait face photo of a {group_words} with detail{i + start} and head turned left."
                     for i in range(n))


def test_the_chat_backend_retries_malformed_and_off_target_answers(monkeypatch):
    groups = {g: P.group_words(SM, int(g[0]), int(g[2])) for g in ("0_0", "0_1", "1_0", "1_1")}
    replies = []
    for g in ("0_0", "0_1", "1_0", "1_1"):
        off = "0_0" if g != "0_0" else "1_1"
        replies += ["RAW:this is not json",
                    valid(groups[off], 2) + "\n" + valid(groups[g], 2) + "\n" + valid(groups[g], 1),  # off-target + a duplicate
                    valid(groups[g], 3, start=2)]
    server = FakeChatServer(replies)
    monkeypatch.setenv(P.BASE_URL_ENV, server.url)
    monkeypatch.setenv(P.MODEL_ENV, "fake-gpt")
    monkeypatch.setenv(P.API_KEY_ENV[0], server.key)
    try:
        result = P.collect(P.ChatCompletionsBackend.from_environment(), SM, 4, seed=1)
    finally:
        server.close()
    assert all(len(v) == 4 for v in result.prompts.values())
    assert any(groups["0_0"] in x for x in result.rejected["0_1"])
    assert server.requests[0]["auth"] == f"Bearer {server.key}"
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert server.key not in json.dumps(result.as_json())


def test_a_backend_that_keeps_answering_off_target_stops_with_a_clear_error():
    server = FakeChatServer([valid("non-smiling female", 5)])
    try:
        with pytest.raises(P.PromptError, match=r"only 0 of 3 valid prompts for CelebA S/M group 0_1 \(non-smiling male\)"):
            P.collect(P.ChatCompletionsBackend(server.url, "fake"), SM, 3, max_requests=3)
    finally:
        server.close()


def test_a_failing_server_stops_after_the_allowed_requests():
    server = FakeChatServer([500])
    try:
        with pytest.raises(P.PromptError, match=r"3 requests failed, last: .*HTTP 500"):
            P.collect(P.ChatCompletionsBackend(server.url, "fake", api_key="sk-never-shown"), SM, 3, max_requests=3)
    finally:
        server.close()


def test_the_chat_backend_explains_missing_settings(monkeypatch):
    monkeypatch.delenv(P.BASE_URL_ENV, raising=False)
    with pytest.raises(P.PromptError, match="FAIRLAB_LLM_BASE_URL"):
        P.ChatCompletionsBackend.from_environment()


def test_an_error_never_shows_the_key_or_the_urls_secrets_and_a_refused_key_is_asked_once():
    server = FakeChatServer([(401, "Unauthorized: {auth}")])
    url = server.url + "?api_key=qs-secret-456"
    try:
        with pytest.raises(P.PromptError) as info:
            P.collect(P.ChatCompletionsBackend(url, "fake", api_key=server.key), SM, 3, max_requests=5)
    finally:
        server.close()
    message = str(info.value)
    assert "HTTP 401" in message and "api_key=***" in message
    assert server.key not in message and "qs-secret-456" not in message
    assert len(server.requests) == 1  # a refused key is refused again: not retried


def test_credentials_in_the_endpoint_url_are_kept_out_of_messages_and_provenance():
    backend = P.ChatCompletionsBackend("https://me:pw-secret@llm.example/v1?token=t-secret", "m", api_key="sk-k")
    assert P.redact_url(backend.base_url) == "https://***@llm.example/v1?token=***"
    assert backend.provenance()["base_url"] == "https://***@llm.example/v1?token=***"
    shown = backend._redact(f"failed for {backend.base_url} with Bearer sk-k and pw-secret")
    assert "pw-secret" not in shown and "t-secret" not in shown and "sk-k" not in shown


def test_a_hosted_endpoint_blocked_offline_says_to_allow_the_network_and_is_not_retried(monkeypatch):
    import urllib.error

    from fairlab.offline import NetworkBlocked

    calls = []

    def blocked(*args, **kwargs):
        calls.append(1)
        raise urllib.error.URLError(NetworkBlocked("fairlab runs offline: blocked a connection to llm.example:443"))

    monkeypatch.setattr(P.urllib.request, "urlopen", blocked)
    with pytest.raises(P.PromptError, match="--allow-network"):
        P.collect(P.ChatCompletionsBackend("https://llm.example/v1", "m"), SM, 3, max_requests=5)
    assert len(calls) == 1
