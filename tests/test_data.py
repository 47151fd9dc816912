"""The data layer: readers, datasets by name, splits, downloads, the `chatbot data` verbs."""

from __future__ import annotations

import http.server
import json
import os
import threading
from pathlib import Path

import pytest

from chatbot.cli import main
from chatbot.data.catalog import DatasetInfo, RemoteFile
from chatbot.data.corpus import Example
from chatbot.data.datasets import corpus_stats, load_dataset
from chatbot.data.download import download_dataset, fetch
from chatbot.data.formats import guess_format
from chatbot.data.readers import ReadReport, read_table
from chatbot.data.splits import split_examples, split_key
from chatbot.errors import DatasetError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir() and not os.environ.get("CI"),
    reason="../shared/corpora is not beside this checkout (CI always has it)",
)


# -- readers -------------------------------------------------------------------------------


def test_table_reader_survives_bom_crlf_spaces_and_empty_rows(tmp_path):
    path = tmp_path / "intents.csv"
    content = "\ufeffquestion,label\r\n날씨 어때 , weather \r\n\r\n,\r\n미세먼지 심해?,dust\r\n"
    path.write_bytes(content.encode("utf-8"))
    rows = list(read_table(path, ("question", "label"), ","))
    assert rows == [(2, {"question": "날씨 어때", "label": "weather"}),
                    (5, {"question": "미세먼지 심해?", "label": "dust"})]


def test_malformed_rows_name_file_and_line_or_are_counted(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("question\tanswer\tintent\n안녕\t안녕하세요\tgreeting\n잘 가\tbye\n"
                    "고마워\t\tthanks\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{path}:3: expected 3 fields"):
        list(read_table(path, ("question", "answer", "intent")))
    report = ReadReport()
    rows = list(read_table(path, ("question", "answer", "intent"), skip_bad=True, report=report))
    assert [line for line, _ in rows] == [2]
    assert report.skipped == [
        f"{path}:3: expected 3 fields (question, answer, intent), found 2",
        f"{path}:4: empty value in column(s) ['answer']",
    ]


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "euckr.csv"
    path.write_bytes("text\n좋아요\n".encode() + "나빠요\n".encode("cp949"))
    with pytest.raises(DatasetError, match=rf"{path}:3: not UTF-8"):
        list(read_table(path, ("text",), ","))


def test_formats_are_guessed_from_header_and_extension(tmp_path):
    cases = {
        "a.csv": "Q,A,label\n안녕,반가워,0\n",
        "b.csv": "question,label\n먼지 어때,dust\n",
        "c.tsv": "genre\tsentence1\tsentence2\nx\t가.\t나.\n",
        "d.txt": "욕설 아님|0\n",
        "e.jsonl": '{"text": "안녕"}\n',
        "f.csv": "text,spam\n당첨!,spam\n",
    }
    guessed = {}
    for name, content in cases.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        guessed[name] = guess_format(tmp_path / name)
    assert guessed == {"a.csv": "chatbotdata", "b.csv": "kochat_intent", "c.tsv": "korsts",
                       "d.txt": "curse", "e.jsonl": "examples_jsonl", "f.csv": "examples_table"}


# -- datasets ------------------------------------------------------------------------------


def test_bundled_corpus_counts():
    stats = corpus_stats(load_dataset("demo"))
    assert stats["dialog_pairs"] >= 10_000 and stats["intents"] >= 40
    assert stats["follow_up_turns"] >= 500
    assert stats["spam"] >= 600 and stats["ham"] >= 600
    assert stats["ood"] >= 300 and stats["sentences"] >= 3000
    assert stats["skipped_rows"] == 0


@needs_shared
@pytest.mark.parametrize(
    ("name", "key", "minimum"),
    [("chatbotdata", "dialog_pairs", 10_000), ("kochat_intent", "ood", 10_000),
     ("curse", "abuse", 1_500), ("korsts", "sentences", 10_000)],
)
def test_public_datasets_load_from_the_data_directory(monkeypatch, name, key, minimum):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(SHARED))
    assert corpus_stats(load_dataset(name))[key] >= minimum


def test_missing_and_unknown_datasets_say_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="chatbot data download nsmc"):
        load_dataset("nsmc")
    with pytest.raises(DatasetError, match="unknown dataset 'mine'.*demo, chatbotdata"):
        load_dataset("mine")


# -- splits --------------------------------------------------------------------------------


def test_splits_are_deterministic_and_keep_duplicates_together():
    examples = [Example(f"질문 {i % 300}{'?' if i % 2 else ''}", intent="x") for i in range(1200)]
    splits = split_examples(examples, dev=0.1, test=0.1, seed=3)
    again = split_examples(examples, dev=0.1, test=0.1, seed=3)
    assert splits == again
    sides = [{split_key(e.text) for e in side} for side in (splits.train, splits.dev, splits.test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert 0.05 < len(splits.test) / len(examples) < 0.15
    other = split_examples(examples, dev=0.1, test=0.1, seed=4)
    assert other.test != splits.test


# -- downloads -----------------------------------------------------------------------------


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP range requests (the standard handler ignores them)."""

    def log_message(self, *args):  # keep test output clean
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return None
        data = path.read_bytes()
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.server.requests.append(self.headers.get("Range"))
        import io

        return io.BytesIO(body)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "upstream"
    root.mkdir()
    lines = ["Q,A,label"] + [f"질문 {i},대답 {i},{i % 3}" for i in range(300)]
    (root / "ChatbotData.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def handler(*args, **kwargs):
        return _RangeHandler(*args, directory=str(root), **kwargs)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, root
    httpd.shutdown()


def _info(url: str, min_rows: int = 100) -> DatasetInfo:
    return DatasetInfo(name="chatbotdata", description="test copy", source="loopback",
                       files=(RemoteFile(url, "ChatbotData.csv"),), format="chatbotdata",
                       pattern="*.csv", licence="MIT", tasks=(), upstream_rows="300",
                       min_rows=min_rows)


def test_download_verifies_and_resumes(server, tmp_path):
    httpd, root = server
    url = f"http://127.0.0.1:{httpd.server_port}/ChatbotData.csv"
    original = (root / "ChatbotData.csv").read_bytes()
    folder = tmp_path / "data" / "chatbotdata"
    folder.mkdir(parents=True)
    # A download that broke off half-way leaves a .part file; the next run resumes it.
    (folder / "ChatbotData.csv.part").write_bytes(original[:1000])
    paths = download_dataset(_info(url), folder, progress=False)
    assert paths[0].read_bytes() == original
    assert httpd.requests == ["bytes=1000-"]
    assert not (folder / "ChatbotData.csv.part").exists()
    # Present files are not fetched again.
    fetch(_info(url).files[0], folder, "chatbotdata", progress=False)
    assert len(httpd.requests) == 1


def test_download_with_too_few_rows_is_not_kept(server, tmp_path):
    httpd, _ = server
    url = f"http://127.0.0.1:{httpd.server_port}/ChatbotData.csv"
    folder = tmp_path / "chatbotdata"
    with pytest.raises(DatasetError, match="300 rows; at least 10,000"):
        download_dataset(_info(url, min_rows=10_000), folder, progress=False)
    assert not (folder / "ChatbotData.csv").exists()
    assert (folder / "ChatbotData.csv.bad").exists()


def test_offline_download_fails_at_once_with_url_and_manual_route(tmp_path):
    url = "http://127.0.0.1:9/ChatbotData.csv"  # nothing listens on the discard port
    with pytest.raises(DatasetError) as caught:
        download_dataset(_info(url), tmp_path / "chatbotdata", progress=False)
    assert url in str(caught.value)
    assert "chatbot data add chatbotdata PATH" in str(caught.value)


# -- the CLI -------------------------------------------------------------------------------


def test_cli_stats_json_keys(capsys):
    assert main(["data", "stats", "demo", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    for key in ("dialog_pairs", "intents", "spam", "ham", "ood", "sentences"):
        assert isinstance(stats[key], int)
    assert stats["intents"] == 46


def test_cli_validate_lists_every_bad_row(capsys, tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text("text\tintent\tspam\n안녕\tgreeting\t\n\t\t\n광고\t\tmaybe\n잘자\tfarewell\n"
                    "x\ty\tz\tw\n", encoding="utf-8")
    assert main(["data", "validate", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{path}:4: spam must be one of spam, ham, abuse",
        f"{path}:5: expected 3 fields (text, intent, spam), found 2",
        f"{path}:6: expected 3 fields (text, intent, spam), found 4",
    ]


def test_cli_add_registers_a_dataset_that_training_can_name(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    mine = tmp_path / "labelled.csv"
    mine.write_text("text,intent\n배송 언제 와요,delivery\n환불 돼요?,refund\n", encoding="utf-8")
    assert main(["data", "add", "shop", str(mine)]) == 0
    assert "added 1 file(s)" in capsys.readouterr().out
    corpus = load_dataset("shop")
    assert [(e.text, e.intent) for e in corpus.examples] == [
        ("배송 언제 와요", "delivery"), ("환불 돼요?", "refund")
    ]
    assert main(["data", "list", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed["shop"]["present"] and not listed["nsmc"]["present"]


def test_cli_add_refuses_a_file_that_does_not_parse(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    bad = tmp_path / "ChatbotData.csv"
    bad.write_text("Q,A,label\n안녕,반가워,7\n", encoding="utf-8")
    assert main(["data", "add", "chatbotdata", str(bad)]) == 2
    assert f"{bad}:2: label must be 0, 1 or 2" in capsys.readouterr().err
    assert not (tmp_path / "data" / "chatbotdata").exists()
