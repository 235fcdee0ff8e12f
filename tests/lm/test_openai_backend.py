"""The OpenAI-compatible HTTP backend: against a real ``llama_cpp.server`` on 127.0.0.1 with the shipped
SmolLM2 GGUF (when llama-cpp-python is installed), and against a small stub server only for the faults a
real server cannot be made to produce (timeouts, 5xx, 429, malformed JSON, missing fields, key leaks)."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from curata.lm.cache import CachedLM, LMCache
from curata.lm.openai_backend import NO_LOGPROBS, OpenAILM

SECRET = "sk-test-DO-NOT-LEAK-4242"
NO_SERVER = "llama-cpp-python[server] is not installed (optional extra: pip install 'llama-cpp-python[server]')"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# a real llama.cpp server ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    if not all(importlib.util.find_spec(m) for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette")):
        pytest.skip(NO_SERVER)
    from curata.lm.models import smollm2_gguf_path

    port = free_port()
    logfile = tmp_path_factory.mktemp("llama_server") / "server.log"
    with open(logfile, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf_path()),
                                 "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512", "--n_threads", "1",
                                 "--n_threads_batch", "1", "--model_alias", "smol"], stdout=log, stderr=log)
    try:
        deadline = time.time() + 90
        while True:
            assert proc.poll() is None, f"llama_cpp.server exited:\n{logfile.read_text()[-2000:]}"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).read()
                break
            except OSError:
                assert time.time() < deadline, f"llama_cpp.server not ready in 90 s:\n{logfile.read_text()[-2000:]}"
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def served(llama_server):
    # llama-cpp-python's echo log-probs are shifted by one token unless the text starts with BOS (see the module)
    return OpenAILM(base_url=llama_server, model="smol", prompt_prefix="<|im_start|>", timeout=60,
                    cost_per_1k_prompt_tokens=0.5, cost_per_1k_completion_tokens=1.5)


def test_real_server_chat_and_completions(served):
    reply = served.chat([[{"role": "user", "content": "What is 2+2?"}]], max_new_tokens=20)[0]
    assert reply.error is None and "4" in reply.text and reply.finish_reason == "stop"
    assert reply.n_prompt_tokens > 20 and 0 < reply.n_tokens < 20  # the template's system prompt was added
    assert reply.usage["cost"] == pytest.approx((reply.n_prompt_tokens * 0.5 + reply.n_tokens * 1.5) / 1000)
    gen = served.generate(["The capital of France is", "1, 2, 3,"], max_new_tokens=8, stop=[" 6"])
    assert gen[0].text.startswith(" Paris") and gen[0].finish_reason == "length" and gen[0].n_tokens == 8
    assert gen[1].text == " 4, 5," and gen[1].finish_reason == "stop"
    assert served.usage["requests"] >= 3 and served.usage["errors"] == 0


def test_real_server_loglikelihood_agrees_in_rank_with_transformers(served, smol):
    requests = [("The capital of France is", " Paris."), ("The capital of France is", " London."),
                ("The capital of France is", " a banana."), ("Q: What is 2+2?\nA:", " 4"),
                ("Q: What is 2+2?\nA:", " 17"), ("Once upon a time", " there was a princess.")]
    http = served.loglikelihood(requests)
    local = smol.loglikelihood(requests)
    assert all(r.error is None for r in http)
    a = np.array([r.token_logprobs.sum() for r in http])
    b = np.array([r.token_logprobs.sum() for r in local])
    assert list(np.argsort(a)) == list(np.argsort(b))
    np.testing.assert_allclose(a, b, atol=0.25 * np.abs(b).max())  # Q4_1 in llama.cpp vs its float copy
    assert [r.n_tokens for r in http] == [r.n_tokens for r in local]


def test_real_server_empty_prompt_and_token_counts(served, smol):
    res = served.loglikelihood([("", "Hello there, how are you?")])[0]
    assert res.error is None and "without a log-probability" in res.note
    assert res.n_tokens == smol.count_tokens(["Hello there, how are you?"])[0] - 1
    assert served.count_tokens(["Hello world", "The capital of France is Paris."]) == \
        smol.count_tokens(["Hello world", "The capital of France is Paris."])


# the stub server for faults ---------------------------------------------------------------------------
class Stub:
    """Replies from ``behave(path, body, attempt) -> (status, body, headers, delay)``; counts and logs requests."""

    def __init__(self):
        self.calls: list[dict] = []
        self.attempts: dict[str, int] = {}
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.behave = lambda path, body, attempt: (200, completion("ok"), {}, 0)


def completion(text: str, prompt_tokens: int = 10, completion_tokens: int = 5, **extra) -> dict:
    return {"choices": [{"text": text, "finish_reason": "stop", **extra}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}}


@pytest.fixture
def stub():
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key = json.dumps(body.get("prompt") or body.get("messages"))
            with state.lock:
                state.attempts[key] = state.attempts.get(key, 0) + 1
                state.calls.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            answered = False
            try:
                status, reply, headers, delay = state.behave(self.path, body, state.attempts[key])
                time.sleep(delay)
                with state.lock:  # in flight = received, not yet answered: once the reply is written the client
                    state.in_flight -= 1  # may free its slot and send the next request before this thread ends
                answered = True
                data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                if not answered:
                    with state.lock:
                        state.in_flight -= 1

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


def backend(stub, **kw) -> OpenAILM:
    return OpenAILM(**{"base_url": stub.url, "model": "stub", "backoff": 0.01, "max_backoff": 0.5, "timeout": 5, **kw})


def test_timeouts_are_retried_then_reported(stub):
    stub.behave = lambda p, b, n: (200, completion("late"), {}, 0.6 if "slow" in b["prompt"] or n == 1 else 0)
    lm = backend(stub, timeout=0.2, max_retries=2)
    ok, slow = lm.generate(["fast after one timeout", "always slow"], max_new_tokens=4)
    assert ok.error is None and ok.text == "late"
    assert slow.finish_reason == "error" and "gave up after 3 attempts" in slow.error and "timed out" in slow.error
    assert stub.attempts['"always slow"'] == 3 and lm.usage["retries"] == 1 + 2 and lm.usage["errors"] == 1


def test_server_errors_are_retried_until_success(stub):
    stub.behave = lambda p, b, n: (500, {"error": "boom"}, {}, 0) if n <= 2 else (200, completion("fine"), {}, 0)
    lm = backend(stub, max_retries=3)
    out = lm.generate(["x"], max_new_tokens=4)[0]
    assert out.text == "fine" and out.error is None
    assert len(stub.calls) == 3 and lm.usage["retries"] == 2 and lm.usage["requests"] == 1


def test_rate_limits_back_off_and_honour_retry_after(stub):
    stub.behave = lambda p, b, n: (429, {"error": "slow down"}, {"Retry-After": "0.3"}, 0) if n == 1 else \
        (200, completion("done"), {}, 0)
    lm = backend(stub, max_retries=2)
    t0 = time.perf_counter()
    out = lm.generate(["x"], max_new_tokens=4)[0]
    assert out.text == "done" and time.perf_counter() - t0 >= 0.3 and len(stub.calls) == 2


def test_client_errors_are_not_retried(stub):
    stub.behave = lambda p, b, n: (400, {"error": "bad request"}, {}, 0)
    lm = backend(stub, max_retries=3)
    out = lm.generate(["x"], max_new_tokens=4)[0]
    assert out.finish_reason == "error" and out.error.startswith("HTTP 400") and len(stub.calls) == 1


def test_malformed_or_incomplete_replies_fail_only_their_request(stub):
    replies = {"bad json": b"{not json", "no choices": {"usage": {}}, "empty choices": {"choices": []},
               "no text": {"choices": [{"finish_reason": "stop"}]}, "not an object": [1, 2]}
    stub.behave = lambda p, b, n: (200, replies.get(b["prompt"], completion("fine")), {}, 0)
    out = backend(stub, concurrency=3).generate([*replies, "good"], max_new_tokens=4)
    errors = [g.error for g in out]
    assert "malformed JSON" in errors[0] and "no choices" in errors[1] and "no choices" in errors[2]
    assert "unexpected reply" in errors[3] and "not a JSON object" in errors[4]
    assert out[-1].text == "fine" and out[-1].error is None


def test_chat_and_loglikelihood_replies_without_what_we_need(stub):
    stub.behave = lambda p, b, n: (200, completion("", logprobs=None) if "completions" in p and "chat" not in p
                                   else {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}, {}, 0)
    lm = backend(stub)
    res = lm.loglikelihood([("Hello", " world"), ("Hello", "")])
    assert res[0].error == NO_LOGPROBS and res[1].error == "empty continuation"
    chat = lm.chat([[{"role": "user", "content": "hey"}], "not a conversation"], max_new_tokens=4)
    assert chat[0].text == "hi" and chat[1].finish_reason == "error" and "bad conversation" in chat[1].error


def test_loglikelihood_splits_the_echo_at_the_prompt_by_offsets(stub):
    # "Hello wo" + "rld": the server's token " world" spans the boundary; "!" was generated (max_tokens=1)
    echo = {"tokens": ["Hello", " world", "!"], "token_logprobs": [None, -1.5, -0.1], "text_offset": [0, 5, 11]}
    bos_echo = {"tokens": ["A", " b", " c"], "token_logprobs": [None, -0.5, -0.25], "text_offset": [0, 1, 3]}
    stub.behave = lambda p, b, n: (200, completion(b["prompt"], logprobs=echo if "Hello" in b["prompt"] else bos_echo),
                                   {}, 0)
    lm = backend(stub)
    res = lm.loglikelihood([("Hello wo", "rld")])[0]
    assert res.token_logprobs.tolist() == [-1.5] and res.n_prompt_tokens == 1 and "spans" in res.note
    assert stub.calls[0]["body"]["echo"] is True and stub.calls[0]["body"]["max_tokens"] == 1
    prefixed = backend(stub, prompt_prefix="<s>").loglikelihood([("A", " b c")])[0]  # the echo drops "<s>"
    assert prefixed.token_logprobs.tolist() == [-0.5, -0.25] and prefixed.n_prompt_tokens == 1


def test_max_tokens_zero_falls_back_to_one_when_refused(stub):
    echo = {"tokens": ["a", " b"], "token_logprobs": [None, -2.0], "text_offset": [0, 1]}
    stub.behave = lambda p, b, n: (400, {"error": "max_tokens must be at least 1"}, {}, 0) if b["max_tokens"] == 0 \
        else (200, completion("a b", logprobs=echo), {}, 0)
    lm = backend(stub, echo_max_tokens=0)
    assert lm.loglikelihood([("a", " b")])[0].token_logprobs.tolist() == [-2.0]
    assert [c["body"]["max_tokens"] for c in stub.calls] == [0, 1]
    lm.loglikelihood([("a", " b")])
    assert stub.calls[-1]["body"]["max_tokens"] == 1


def test_concurrency_limit_and_cost_accounting(stub):
    stub.behave = lambda p, b, n: (200, completion("c", prompt_tokens=10, completion_tokens=5), {}, 0.15)
    lm = backend(stub, concurrency=2, cost_per_1k_prompt_tokens=2.0, cost_per_1k_completion_tokens=4.0)
    out = lm.generate([f"p{i}" for i in range(6)], max_new_tokens=4)
    assert stub.max_in_flight == 2
    assert all(g.usage == {"prompt_tokens": 10, "completion_tokens": 5, "cost": pytest.approx(0.04)} for g in out)
    assert lm.usage["prompt_tokens"] == 60 and lm.usage["completion_tokens"] == 30
    assert lm.usage["cost"] == pytest.approx(0.24)


def test_api_key_is_sent_but_never_logged_stored_or_shown(stub, monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("CURATA_TEST_KEY", SECRET)
    stub.behave = lambda p, b, n: (500 if n == 1 else 401, {"error": f"bad key {SECRET}"}, {}, 0)
    lm = backend(stub, api_key_env="CURATA_TEST_KEY", max_retries=2)
    cached = CachedLM(lm, LMCache(tmp_path, lm.model_key))
    with caplog.at_level(logging.DEBUG):
        out = cached.generate(["x"], max_new_tokens=4)[0]
        ll = cached.loglikelihood([("a", " b")])[0]
    assert stub.calls[0]["auth"] == f"Bearer {SECRET}"
    assert "HTTP 401" in out.error and "***" in out.error and "HTTP 401" in ll.error
    assert "HTTP 500" in caplog.text  # the retry was logged ...
    shown = [caplog.text, out.error, ll.error, repr(lm), lm.describe(), lm.model_key, json.dumps(lm.usage)]
    shown += [f.read_text(errors="replace") for f in tmp_path.rglob("*") if f.is_file()]
    assert not any(SECRET in s for s in shown)  # ... without the key
    assert os.environ["CURATA_TEST_KEY"] == SECRET
