"""A machine without ../shared/data: the pre-flight stop, and the download path.

No network: the download path is served a small Kermany-layout ZIP, made here
of real images, from 127.0.0.1 at a URL without an extension, as Mendeley's.
"""

import functools
import hashlib
import http.server
import os
import pathlib
import subprocess
import sys
import threading
import time
import zipfile

import pytest
import tensorflow_datasets as tfds

from pneumonia_tfds import preflight
from pneumonia_tfds.datasets.pneumonia_xray import pneumonia_xray_dataset_builder as builder_lib
from tests import conftest

CONFIGS = builder_lib.Builder.builder_configs
# The tail of the Kermany URL: no extension for TFDS to guess a format from.
EXTENSIONLESS_PATH = "public-files/datasets/rscbjbr9sj/files/0000/file_downloaded"
ARCHIVE_PER_CLASS = 3
# The fake `tfds` on PATH: records its arguments, fails like a build would.
FAKE_TFDS = '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$FAKE_TFDS_ARGS"\nexit 3\n'
FAKE_TFDS_RC = 3


def _run_quickstart(tmp_path, manual_dir, **env_overrides):
  """Runs quickstart.sh with a fake `tfds`; returns (result, tfds argv|None)."""
  fake_bin = tmp_path / "fake_bin"
  fake_bin.mkdir(exist_ok=True)
  (fake_bin / "tfds").write_text(FAKE_TFDS)
  (fake_bin / "tfds").chmod(0o755)
  args_file = tmp_path / "tfds_args"
  env = {key: value for key, value in os.environ.items()
         if not key.startswith("QUICKSTART_")}
  env.update(QUICKSTART_SKIP_INSTALL="1", FAKE_TFDS_ARGS=os.fspath(args_file),
             # python3 must be this interpreter, tfds the fake.
             PATH=f"{fake_bin}:{pathlib.Path(sys.executable).parent}:"
                  f"{os.environ['PATH']}", **env_overrides)
  result = subprocess.run(
      ["bash", os.fspath(conftest.REPO / "quickstart.sh"), os.fspath(manual_dir),
       os.fspath(tmp_path / "work")], env=env, capture_output=True, text=True,
      timeout=120)
  tfds_argv = (args_file.read_text().splitlines() if args_file.exists()
               else None)
  return result, tfds_argv


def test_preflight_names_the_missing_folders_and_exits_at_once(tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  start = time.monotonic()
  result = subprocess.run(
      [sys.executable, "-m", "pneumonia_tfds.preflight", "--config",
       "small_gray_204", "--manual_dir", os.fspath(empty)],
      cwd=conftest.REPO, capture_output=True, text=True, timeout=60)
  assert time.monotonic() - start < 30
  assert result.returncode == preflight.MISSING, result.stderr
  message = result.stderr
  assert f"{empty}/chest_xray_small/{{train,test}}/{{NORMAL,PNEUMONIA}}" in message
  assert "It has no public download" in message
  assert "shared/data/README.md" in message
  assert "gray_204_source_splits" in message  # What can be downloaded instead.


def test_preflight_lists_every_source_with_where_to_get_it(tmp_path):
  message = preflight.check(CONFIGS["gray_204"], os.fspath(tmp_path / "none"))
  assert "(it does not exist)" in message
  for folder in ("chest_xray/{train,test}", "covid-chestxray-dataset/metadata.csv",
                 "coronahack/Chest_xray_Corona_Metadata.csv"):
    assert f"{tmp_path / 'none'}/{folder}" in message
  assert "https://data.mendeley.com/datasets/rscbjbr9sj/2" in message
  assert "git clone https://github.com/ieee8023/covid-chestxray-dataset" in message
  assert "praveengovi/coronahack-chest-xraydataset" in message
  assert "tfds build 'pneumonia_xray/download_missing=True'" in message


def test_preflight_passes_where_the_build_finds_its_sources(shared_data):
  assert preflight.check(CONFIGS["small_gray_204"], os.fspath(shared_data)) is None
  assert preflight.main(["--config", "small_gray_204",
                         "--manual_dir", os.fspath(shared_data)]) == preflight.OK


def test_preflight_with_download(tmp_path):
  missing = os.fspath(tmp_path / "none")
  # Downloadable sources count as there...
  assert preflight.check(CONFIGS["gray_204_source_splits"], missing,
                         download=True) is None
  # ...but the 224 px copy has no public archive to come from.
  message = preflight.check(CONFIGS["small_gray_204"], missing, download=True)
  assert "chest_xray_small/ has no public download" in message


def test_preflight_rejects_an_unknown_config(capsys):
  assert preflight.main(["--config", "gray_13", "--manual_dir", "x"]) == preflight.USAGE
  assert "small_gray_204" in capsys.readouterr().err


def test_quickstart_without_data_stops_before_any_build(tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  result, tfds_argv = _run_quickstart(tmp_path, empty)
  assert result.returncode == 1, result.stdout + result.stderr
  assert tfds_argv is None  # tfds build never ran.
  assert f"{empty}/chest_xray_small/{{train,test}}" in result.stderr
  assert "quickstart: stopped before the build" in result.stderr
  assert "QUICKSTART_DOWNLOAD=1" in result.stderr
  assert "3/4 train" not in result.stdout
  assert not (tmp_path / "work" / "tensorflow_datasets").exists()


def test_quickstart_download_builds_with_download_missing(tmp_path):
  missing = tmp_path / "no_shared_data"
  result, tfds_argv = _run_quickstart(tmp_path, missing, QUICKSTART_DOWNLOAD="1")
  assert result.returncode == FAKE_TFDS_RC, result.stdout + result.stderr
  assert tfds_argv == [
      "build", "pneumonia_xray/download_missing=True", "--imports",
      "pneumonia_tfds", "--config", "gray_204_source_splits", "--manual_dir",
      os.fspath(missing), "--data_dir",
      os.fspath(tmp_path / "work" / "tensorflow_datasets")]
  # The name form really reaches the builder as its kwarg.
  _, kwargs = tfds.core.naming.parse_builder_name_kwargs(tfds_argv[1])
  assert kwargs == {"download_missing": True}


def test_quickstart_download_of_the_small_copy_stops_before_any_build(tmp_path):
  result, tfds_argv = _run_quickstart(tmp_path, tmp_path / "none",
                                      QUICKSTART_DOWNLOAD="1",
                                      QUICKSTART_CONFIG="small_gray_204")
  assert result.returncode == 1, result.stdout + result.stderr
  assert tfds_argv is None
  assert "chest_xray_small/ has no public download" in result.stderr


def test_tfds_could_not_guess_the_kermany_archive_format():
  # Why the builder declares ZIP: by its name TFDS would not unpack it.
  name = os.path.basename(builder_lib.DOWNLOAD_URLS["kermany"])
  assert (tfds.download.resource.guess_extract_method(name)
          == tfds.download.ExtractMethod.NO_EXTRACT)


def _write_kermany_archive(path: pathlib.Path, shared: pathlib.Path) -> dict:
  """A ZIP laid out as ChestXRay2017.zip (chest_xray/{split}/{CLASS}/), of
  the first real originals per class; returns {sha256: member name}."""
  members = {}
  with zipfile.ZipFile(path, "w") as archive:
    for split in ("train", "test"):
      for cls in ("NORMAL", "PNEUMONIA"):
        folder = shared / "chest_xray" / split / cls
        for image in sorted(folder.iterdir())[:ARCHIVE_PER_CLASS]:
          name = f"chest_xray/{split}/{cls}/{image.name}"
          archive.write(image, name)
          members[hashlib.sha256(image.read_bytes()).hexdigest()] = name
  return members


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
  requested = None  # Set per server: the paths asked for.

  def do_GET(self):
    self.requested.append(self.path)
    super().do_GET()

  def log_message(self, *args):  # Keep the test log quiet.
    pass


@pytest.fixture
def local_server(tmp_path):
  """(root folder, base URL, requested paths) of an HTTP server on 127.0.0.1."""
  root = tmp_path / "www"
  root.mkdir()
  requested = []
  handler = type("Handler", (_RecordingHandler,), {"requested": requested})
  server = http.server.ThreadingHTTPServer(
      ("127.0.0.1", 0), functools.partial(handler, directory=os.fspath(root)))
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield root, f"http://127.0.0.1:{server.server_port}", requested
  finally:
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_download_path_builds_from_an_archive_at_an_extensionless_url(
    tmp_path, shared_data, monkeypatch, local_server):
  root, base_url, requested = local_server
  archive = root / EXTENSIONLESS_PATH
  archive.parent.mkdir(parents=True)
  members = _write_kermany_archive(archive, shared_data)
  url = f"{base_url}/{EXTENSIONLESS_PATH}"
  # Only Kermany can be downloaded in this test; ieee8023 is left out.
  monkeypatch.setattr(builder_lib, "DOWNLOAD_URLS", {"kermany": url})
  # A proxy meant for the real downloads must not take the local requests.
  monkeypatch.setenv("NO_PROXY", "127.0.0.1")
  data_dir = tmp_path / "data"

  # As on a fresh machine: the manual_dir given does not exist.
  builder = conftest.build(tmp_path / "no_shared_data", data_dir, "gray_96",
                           download_missing=True, num_workers=1)

  assert requested == [f"/{EXTENSIONLESS_PATH}"]
  extracted = list((data_dir / "downloads" / "extracted").iterdir())
  assert [path.name.split(".")[0] for path in extracted] == ["ZIP"]
  examples = list(tfds.as_numpy(
      builder.as_dataset(split="+".join(builder.info.splits))))
  assert {e["sha256"].decode() for e in examples} == members.keys()
  for example in examples:
    file_name = example["file_name"].decode()
    assert example["source"].decode() == "kermany"
    assert file_name.endswith(members[example["sha256"].decode()]), file_name
