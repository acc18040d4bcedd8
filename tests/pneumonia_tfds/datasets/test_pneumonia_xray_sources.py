"""Which sources a build uses: found in manual_dir, downloaded, or an error."""

import os
import shutil

import pytest
import tensorflow_datasets as tfds

import pneumonia_tfds
from pneumonia_tfds.datasets.pneumonia_xray import pneumonia_xray_dataset_builder as builder_lib
from tests import conftest


def _fake_download(tmp_path, shared_data, requested):
  """Stands in for DownloadManager.download_and_extract: each URL "extracts"
  to a folder laid out like the real archive, made of real files."""
  def download_and_extract(self, resource):
    # Declared a ZIP: the Kermany URL has no extension to guess it from.
    assert resource.extract_method == tfds.download.ExtractMethod.ZIP
    url = resource.url
    requested.append(url)
    target = tmp_path / f"extracted{len(requested)}"
    if url == builder_lib.DOWNLOAD_URLS["ieee8023"]:
      root = target / "covid-chestxray-dataset-abe9481d52b5abc782d87b5b2ffa729dad76b821"
      (root / "images").mkdir(parents=True)
      source = shared_data / "covid-chestxray-dataset"
      shutil.copyfile(source / "metadata.csv", root / "metadata.csv")
      for path in sorted((source / "images").iterdir())[:10]:
        shutil.copyfile(path, root / "images" / path.name)
    else:
      folder = target / "chest_xray" / "test" / "NORMAL"
      folder.mkdir(parents=True)
      source = shared_data / "chest_xray_small" / "test" / "NORMAL"
      for path in sorted(source.iterdir())[:5]:
        shutil.copyfile(path, folder / path.name)
    return target
  return download_and_extract


def test_download_missing_fetches_public_sources(tmp_path, shared_data,
                                                 monkeypatch):
  requested = []
  monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract",
                      _fake_download(tmp_path, shared_data, requested))
  empty_manual_dir = tmp_path / "manual"
  empty_manual_dir.mkdir()
  builder = conftest.build(empty_manual_dir, tmp_path / "data", "gray_96",
                           download_missing=True)
  assert sorted(requested) == sorted(builder_lib.DOWNLOAD_URLS.values())
  examples = tfds.as_numpy(builder.as_dataset(split="train+validation+test"))
  sources = {example["source"].decode() for example in examples}
  assert sources == {"kermany", "ieee8023"}


def test_without_download_an_empty_manual_dir_is_an_error(tmp_path):
  empty_manual_dir = tmp_path / "manual"
  empty_manual_dir.mkdir()
  with pytest.raises(ValueError, match=f"{empty_manual_dir} does not exist or is empty"):
    conftest.build(empty_manual_dir, tmp_path / "data", "gray_96")


def test_a_manual_dir_without_any_source_layout_is_an_error(tmp_path):
  manual_dir = tmp_path / "manual"
  (manual_dir / "chest_xray" / "NORMAL").mkdir(parents=True)  # No split folder.
  with pytest.raises(ValueError, match=f"no source found in manual_dir {manual_dir}"):
    conftest.build(manual_dir, tmp_path / "data", "gray_96")


def test_a_named_source_that_is_missing_is_an_error(tmp_path, tiny_manual_dir):
  config = pneumonia_tfds.PneumoniaXrayConfig(
      name="coronahack_only", image_size=32, sources=("coronahack",))
  builder = tfds.builder("pneumonia_xray", config=config,
                         data_dir=os.fspath(tmp_path))
  with pytest.raises(ValueError, match="config 'coronahack_only' needs "
                     "source 'coronahack'") as error:
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(tiny_manual_dir)))
  assert os.fspath(tiny_manual_dir / "coronahack") in str(error.value)


def test_the_small_config_names_the_folder_it_looked_for(tmp_path,
                                                         tiny_manual_dir):
  # tiny_manual_dir has chest_xray/ (the originals' folder), not the 224 px
  # copy small_gray_204 is made of.
  with pytest.raises(ValueError) as error:
    conftest.build(tiny_manual_dir, tmp_path / "data", "small_gray_204")
  message = str(error.value)
  assert "config 'small_gray_204' needs source 'kermany'" in message
  assert (os.fspath(tiny_manual_dir / "chest_xray_small") +
          "/{train,val,test}/{NORMAL,PNEUMONIA}/<image>") in message


@pytest.mark.parametrize("field, value", [("channels", 2), ("image_size", 4),
                                          ("fit", "crop"), ("split_mode", "random"),
                                          ("sources", ("kaggle",))])
def test_bad_config_values_are_rejected(field, value):
  with pytest.raises(ValueError, match=field if field != "sources" else "kaggle"):
    pneumonia_tfds.PneumoniaXrayConfig(name="bad", **{field: value})
