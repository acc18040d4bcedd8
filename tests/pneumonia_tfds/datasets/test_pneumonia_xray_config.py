"""PneumoniaXrayConfig: split_ratios is checked with the other fields."""

import pytest

import pneumonia_tfds


@pytest.mark.parametrize("split_ratios", [
    (0.5, 0.5),  # Two numbers for three splits.
    (0.7, 0.15, 0.1, 0.05),
    (0.9, -0.1, 0.2),
    (0.0, 0.0, 0.0),
])
def test_bad_split_ratios_are_rejected_when_the_config_is_made(split_ratios):
  # Every other field fails here, at definition time; bad ratios must not wait
  # until a build has read and hashed every source file.
  with pytest.raises(ValueError, match="split_ratios"):
    pneumonia_tfds.PneumoniaXrayConfig(name="bad", split_ratios=split_ratios)


def test_good_split_ratios_are_accepted():
  config = pneumonia_tfds.PneumoniaXrayConfig(name="good",
                                              split_ratios=(0.8, 0.0, 0.2))
  assert config.split_ratios == (0.8, 0.0, 0.2)
