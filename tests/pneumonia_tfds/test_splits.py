"""splits: patient groups and seeded, stratified split assignment."""

import collections
import hashlib
import os
import random

import pytest

from pneumonia_tfds import labels
from pneumonia_tfds import merge
from pneumonia_tfds import splits
from pneumonia_tfds.sources import kermany
from pneumonia_tfds.sources import records

RATIOS = (0.7, 0.15, 0.15)
TYPES = ("normal", "bacterial", "viral", "covid19", "fungal")


def _image(key, patient_ids, pneumonia_type="bacterial", source_split=None,
           source="ieee8023", skip_reason=None):
  finding = labels.Finding(
      "normal" if pneumonia_type == "normal" else "pneumonia", pneumonia_type)
  record = records.SourceRecord(
      source=source, path=f"{source}/{key}", key_path=key, finding=finding,
      patient_id=patient_ids[0] if patient_ids else "",
      source_split=source_split)
  return merge.MergedImage(
      sha256=hashlib.sha256(key.encode()).hexdigest(), copies=(record,),
      finding=None if skip_reason else finding,
      patient_ids=tuple(sorted(patient_ids)), source_split=source_split,
      skip_reason=skip_reason)


def _population(group_count, seed=1234, link_every=10):
  """Patients of several types with 1-4 images each; every link_every-th
  patient also shares one image with the previous patient, as when two
  collections number the same child differently."""
  generator = random.Random(seed)
  images = []
  for patient in range(group_count):
    pneumonia_type = TYPES[patient % len(TYPES)]
    patient_id = f"p{patient:04d}"
    for number in range(generator.randint(1, 4)):
      images.append(_image(f"{patient_id}_{number}.jpeg", [patient_id],
                           pneumonia_type))
    if link_every and patient % link_every == 1:
      images.append(_image(f"{patient_id}_shared.jpeg",
                           [patient_id, f"p{patient - 1:04d}"], pneumonia_type))
  return images


def _splits_per_patient(images, assignment):
  result = collections.defaultdict(set)
  for image in images:
    if image.key in assignment:
      for patient_id in image.patient_ids:
        result[patient_id].add(assignment[image.key])
  return result


def test_patient_groups_union_through_shared_images():
  images = [
      _image("a.jpeg", ["p3"]),
      _image("b.jpeg", ["p3", "p1"]),
      _image("c.jpeg", ["p1", "p7"]),
      _image("d.jpeg", ["p7"]),
      _image("e.jpeg", ["p5"]),
      _image("f.jpeg", []),
  ]
  expected = {"ieee8023/a.jpeg": "p1", "ieee8023/b.jpeg": "p1",
              "ieee8023/c.jpeg": "p1", "ieee8023/d.jpeg": "p1",
              "ieee8023/e.jpeg": "p5",
              # An image without patient keys is its own group, named by
              # its content.
              "ieee8023/f.jpeg":
                  "image:" + hashlib.sha256(b"f.jpeg").hexdigest()}
  assert splits.patient_groups(images) == expected
  for seed in range(4):
    shuffled = list(images)
    random.Random(seed).shuffle(shuffled)
    assert splits.patient_groups(shuffled) == expected


def test_real_identical_files_join_two_normal_stems(shared_data):
  # README, Part C: NORMAL2-IM-0095-0001 = NORMAL2-IM-0096-0001 byte for byte,
  # so the two stems must be one patient group.
  manual_dir = os.fspath(shared_data)
  root = kermany.find_root(manual_dir, "chest_xray_small")
  found = list(kermany.read_records(root, manual_dir))
  assert len(found) == 5432
  images = merge.merge(found, (kermany.NAME,), manual_dir)
  assert len(images) == 5432 - 29  # 27 groups of identical files.
  groups = splits.patient_groups(images)
  pair = [image for image in images if len(image.copies) == 2 and
          image.patient_ids == ("kermany:NORMAL2-IM-0095",
                                "kermany:NORMAL2-IM-0096")]
  assert len(pair) == 1
  assert groups[pair[0].key] == "kermany:NORMAL2-IM-0095"

  assignment = splits.assign(images, splits.PATIENT_MODE, RATIOS, seed=0)
  assert len(assignment) == len(images)
  leaks = {patient: found_splits for patient, found_splits
           in _splits_per_patient(images, assignment).items()
           if len(found_splits) > 1}
  assert not leaks


def test_no_patient_in_two_splits():
  images = _population(300)
  assignment = splits.assign(images, splits.PATIENT_MODE, RATIOS, seed=0)
  assert set(assignment) == {image.key for image in images}
  per_patient = _splits_per_patient(images, assignment)
  leaks = {patient: found for patient, found in per_patient.items()
           if len(found) > 1}
  assert not leaks


def test_a_long_chain_of_shared_images_is_one_group():
  # p0-p1-...-p29 linked pairwise: one child seen under 30 keys must land in
  # a single split, even though no image names more than two keys.
  images = [_image(f"chain{i}.jpeg", [f"p{i:02d}", f"p{i + 1:02d}"])
            for i in range(29)] + _population(100, link_every=0)
  assignment = splits.assign(images, splits.PATIENT_MODE, RATIOS, seed=3)
  assert len({assignment[f"ieee8023/chain{i}.jpeg"] for i in range(29)}) == 1


def test_assignment_does_not_depend_on_input_order():
  images = _population(200)
  expected = splits.assign(images, splits.PATIENT_MODE, RATIOS, seed=0)
  for seed in range(3):
    shuffled = list(images)
    random.Random(seed).shuffle(shuffled)
    assert splits.assign(shuffled, splits.PATIENT_MODE, RATIOS, seed=0) == (
        expected)


def test_a_different_seed_changes_the_assignment():
  images = _population(200)
  first = splits.assign(images, splits.PATIENT_MODE, RATIOS, seed=0)
  again = splits.assign(images, splits.PATIENT_MODE, RATIOS, seed=0)
  other = splits.assign(images, splits.PATIENT_MODE, RATIOS, seed=1)
  assert first == again
  assert first != other
  assert set(first) == set(other)
  changed = sum(first[key] != other[key] for key in first)
  assert changed > len(first) // 10


def test_ratios_are_roughly_respected():
  images = _population(400)
  groups = splits.patient_groups(images)
  for ratios in (RATIOS, (0.5, 0.2, 0.3), (0.8, 0.0, 0.2)):
    assignment = splits.assign(images, splits.PATIENT_MODE, ratios, seed=0)
    counts = collections.Counter(assignment.values())
    group_split = {groups[key]: split for key, split in assignment.items()}
    group_counts = collections.Counter(group_split.values())
    for name, ratio in zip(splits.SPLITS, ratios):
      share = ratio / sum(ratios)
      # Groups are drawn one by one (3 sigma for ~370 groups is 0.07);
      # images follow their groups, which hold 1-5 images.
      assert abs(group_counts[name] / len(group_split) - share) < 0.07, (
          ratios, group_counts)
      assert abs(counts[name] / len(images) - share) < 0.08, (ratios, counts)
      if not ratio:
        assert not counts[name]


def test_every_type_with_enough_groups_is_in_every_split():
  images = _population(300)  # 60 patient groups per type.
  assignment = splits.assign(images, splits.PATIENT_MODE, RATIOS, seed=0)
  per_type = collections.defaultdict(collections.Counter)
  for image in images:
    per_type[image.finding.pneumonia_type][assignment[image.key]] += 1
  assert set(per_type) == set(TYPES)
  for pneumonia_type, counts in per_type.items():
    total = sum(counts.values())
    for name, ratio in zip(splits.SPLITS, RATIOS):
      assert counts[name] > 0, (pneumonia_type, counts)
      # Not stratified (a group's split must not depend on other groups),
      # so each type is near the ratios by chance only: 3 sigma for 60
      # groups of 1-4 images.
      assert abs(counts[name] / total - ratio) < 0.2, (pneumonia_type, counts)


def test_skipped_images_get_no_split():
  images = _population(50) + [
      _image("lateral.jpeg", ["p0001"], skip_reason=records.EXCLUDED_VIEW)]
  for mode in splits.SPLIT_MODES:
    assignment = splits.assign(images, mode, RATIOS, seed=0)
    assert "ieee8023/lateral.jpeg" not in assignment
    assert len(assignment) == len(images) - 1


def _source_population():
  """Kermany-like images with source splits, ieee8023-like ones without, and
  ieee8023 patients one of whose images a CoronaHack copy puts in train."""
  images = []
  for patient in range(120):
    split = "test" if patient % 4 == 0 else "train"
    pneumonia_type = TYPES[patient % 3]
    for number in range(1 + patient % 3):
      images.append(_image(f"{split}/k{patient}_{number}.jpeg",
                           [f"kermany:k{patient}"], pneumonia_type,
                           source_split=split, source="kermany"))
  for patient in range(4):
    images.append(_image(f"val/v{patient}.jpeg", [f"kermany:v{patient}"],
                         "bacterial", source_split="validation",
                         source="kermany"))
  for patient in range(100):
    pneumonia_type = TYPES[patient % len(TYPES)]
    images.append(_image(f"images/i{patient}_a.jpeg", [f"ieee8023:{patient}"],
                         pneumonia_type))
    if patient % 10 == 0:
      # A CoronaHack TRAIN copy gave this image a source split; the patient's
      # other image has none and must follow it.
      images.append(_image(f"images/i{patient}_b.jpeg",
                           [f"ieee8023:{patient}", f"coronahack:i{patient}"],
                           pneumonia_type, source_split="train"))
  return images


def test_source_mode_keeps_source_test_and_carves_validation_from_train():
  images = _source_population()
  assignment = splits.assign(images, splits.SOURCE_MODE, RATIOS, seed=0)
  assert set(assignment) == {image.key for image in images}
  source_train_patients = set()
  for image in images:
    split = assignment[image.key]
    if image.source_split == "test":
      assert split == "test", image.key
    elif image.source_split == "validation":
      assert split == "validation", image.key
    elif image.source_split == "train":
      assert split in ("train", "validation"), image.key
      source_train_patients.update(image.patient_ids)
  carved = [image for image in images if image.source_split == "train" and
            assignment[image.key] == "validation"]
  source_train = [image for image in images if image.source_split == "train"]
  # Validation is carved by ratio 0.15 / (0.7 + 0.15) of the source train
  # groups (~90 here), so of its images only roughly.
  assert abs(len(carved) / len(source_train) - 0.15 / 0.85) < 0.1
  # ...and by patient: no patient key on both sides of the cut.
  per_patient = _splits_per_patient(
      [image for image in images if image.source_split != "test"], assignment)
  assert all(len(found) == 1 for patient, found in per_patient.items()
             if patient in source_train_patients), per_patient


def test_source_mode_group_without_source_split_follows_its_group():
  images = _source_population()
  assignment = splits.assign(images, splits.SOURCE_MODE, RATIOS, seed=0)
  for patient in range(0, 100, 10):
    follower = assignment[f"ieee8023/images/i{patient}_a.jpeg"]
    leader = assignment[f"ieee8023/images/i{patient}_b.jpeg"]
    assert leader in ("train", "validation")
    assert follower == leader, patient


def test_source_mode_places_unsplit_groups_as_patient_mode_does():
  images = _source_population()
  assignment = splits.assign(images, splits.SOURCE_MODE, RATIOS, seed=0)
  unsplit = [image for image in images
             if image.key.startswith("ieee8023/images/i") and
             int(image.key.split("/i")[-1].split("_")[0]) % 10 != 0]
  counts = collections.Counter(assignment[image.key] for image in unsplit)
  assert set(counts) == set(splits.SPLITS), counts
  assert {image.key: assignment[image.key] for image in unsplit} == (
      splits.assign_groups(unsplit, splits.SPLITS, RATIOS, seed=0))


def test_source_mode_is_deterministic_and_order_independent():
  images = _source_population()
  expected = splits.assign(images, splits.SOURCE_MODE, RATIOS, seed=0)
  shuffled = list(images)
  random.Random(5).shuffle(shuffled)
  assert splits.assign(shuffled, splits.SOURCE_MODE, RATIOS, seed=0) == expected


@pytest.mark.parametrize("mode", ["random", "", "Patient"])
def test_bad_mode_is_a_value_error(mode):
  with pytest.raises(ValueError, match="split mode"):
    splits.assign(_population(5), mode, RATIOS, seed=0)


def test_bad_ratios_are_a_value_error():
  with pytest.raises(ValueError):
    splits.assign_groups(_population(5), splits.SPLITS, (0.5, 0.5), seed=0)
  with pytest.raises(ValueError):
    splits.assign_groups(_population(5), splits.SPLITS, (0.9, -0.1, 0.2),
                         seed=0)


@pytest.mark.parametrize("mode", splits.SPLIT_MODES)
def test_all_zero_ratios_are_a_value_error(mode):
  # Bad user input is a ValueError that says what is wrong, not a
  # ZeroDivisionError from deep inside the cut.
  with pytest.raises(ValueError, match="ratios"):
    splits.assign(_population(5), mode, (0.0, 0.0, 0.0), seed=0)
  with pytest.raises(ValueError, match="ratios"):
    splits.assign_groups(_population(5), splits.SPLITS, (0.0, 0.0, 0.0),
                         seed=0)


def test_source_mode_carves_validation_by_whole_patient_group():
  # Kermany-like patients x{n}a and x{n}b share a source-test image, so they
  # are one group (the builder's patient_group feature says so). Their
  # source-train images must land on one side of the validation cut, even
  # though no train image links them.
  images = []
  for number in range(40):
    images += [
        _image(f"train/a{number}.jpeg", [f"x{number}a"], source_split="train",
               source="kermany"),
        _image(f"test/b{number}.jpeg", [f"x{number}a", f"x{number}b"],
               source_split="test", source="kermany"),
        _image(f"train/c{number}.jpeg", [f"x{number}b"], source_split="train",
               source="kermany"),
    ]
  assignment = splits.assign(images, splits.SOURCE_MODE, RATIOS, seed=0)
  groups = splits.patient_groups(images)
  splits_of_group = collections.defaultdict(set)
  for image in images:
    if image.source_split == "train":
      splits_of_group[groups[image.key]].add(assignment[image.key])
  assert {"train", "validation"} <= set().union(*splits_of_group.values())
  assert not {group: found for group, found in splits_of_group.items()
              if len(found) > 1}


# Stability: a group's split is a function of its anchor, seed and ratios.


def test_adding_other_groups_moves_no_group():
  small = _population(60)
  large = small + [_image(f"new{i}.jpeg", [f"q{i:04d}"]) for i in range(300)]
  for mode in splits.SPLIT_MODES:
    before = splits.assign(small, mode, RATIOS, seed=0)
    after = splits.assign(large, mode, RATIOS, seed=0)
    assert {key: after[key] for key in before} == before


def test_a_copy_from_a_lower_priority_source_keeps_the_anchor():
  order = ("kermany", "ieee8023", "coronahack")
  images = [_image("a.jpeg", ["ieee8023:7"]), _image("b.jpeg", ["ieee8023:7"])]
  # CoronaHack names its copy of b by its own per-file key, which sorts
  # before ieee8023's by name.
  joined = images[:1] + [_image("b.jpeg", ["ieee8023:7", "coronahack:aaa"])]
  alone = splits.patient_groups(images, source_order=order)
  together = splits.patient_groups(joined, source_order=order)
  assert set(alone.values()) == set(together.values()) == {"ieee8023:7"}
  for seed in range(20):
    assert (splits.assign(images, splits.PATIENT_MODE, RATIOS, seed,
                          source_order=order) ==
            splits.assign(joined, splits.PATIENT_MODE, RATIOS, seed,
                          source_order=order))


def test_near_duplicate_links_join_groups():
  images = [_image(f"x{i}.jpeg", [f"p{i}"]) for i in range(40)]
  links = [("ieee8023/x0.jpeg", f"ieee8023/x{i}.jpeg") for i in range(1, 40)]
  groups = splits.patient_groups(images, links)
  assert set(groups.values()) == {"p0"}
  assert len(set(splits.assign(images, splits.PATIENT_MODE, RATIOS, 0,
                               links).values())) == 1
  # Links to images outside the set are ignored, not an error.
  assert splits.patient_groups(images, [("ieee8023/x0.jpeg", "nowhere")]) == {
      image.key: image.patient_ids[0] for image in images}
