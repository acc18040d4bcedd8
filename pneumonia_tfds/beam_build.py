"""The build as an Apache Beam pipeline: the same steps, on any runner.

    records ──► paths ──► digest (read, sha256)            per file, parallel
                             │
                  group by sha256 ──► encode (decode,       per distinct image
                             │        fingerprint, fit,
                             │        encode)
        digests, fingerprints (metadata only)
                             │
          ToList ──► plan.make  (one worker: duplicates,   whole dataset,
                             │   groups, splits, report)   metadata only
                             │
    encoded ──► join with the plan (side input) ──► examples of one split

The plan step holds every record, digest and fingerprint, a few kilobytes
per source file, never a pixel. The three splits share one graph: the first
split's transform builds it, the others read its outputs.
"""

from typing import Sequence

import tensorflow_datasets as tfds

from pneumonia_tfds import per_file
from pneumonia_tfds import plan as plan_lib
from pneumonia_tfds import report
from pneumonia_tfds.sources import records as records_lib


def _canonical(item):
  sha256, paths = item
  return sha256, min(paths)


def _encode(item, base_dir, geometry):
  sha256, path = item
  return per_file.encode(sha256, path, base_dir, geometry)


def _plan(_, numbered_records, digests, decoded, settings, report_dir):
  # A side input has no order; the report keeps the readers' order.
  records = [record for _, record in sorted(numbered_records,
                                            key=lambda item: item[0])]
  plan = plan_lib.make(records, digests, decoded, settings)
  report.write(plan.report_rows, plan.summary, report_dir)
  return plan


def _examples_of(encoded, plan, split, geometry):
  decoded, data = encoded
  example = plan.examples.get(decoded.sha256)
  if example is not None and example.split == split:
    yield example.key, {**example.features,
                        "image": geometry.feature_value(data)}


class Graph:
  """The pipeline's shared part, built once per pipeline, and its splits."""

  def __init__(self, records: Sequence[records_lib.SourceRecord],
               base_dir: str, geometry: per_file.Geometry,
               settings: plan_lib.Settings, report_dir: str):
    self._arguments = (records, base_dir, geometry, settings, report_dir)
    self._geometry = geometry
    self._outputs = {}

  def examples(self, split: str):
    """A `beam.PTransform` of the split's (key, example) pairs."""
    beam = tfds.core.lazy_imports.apache_beam

    @beam.ptransform_fn
    def split_examples(pbegin):
      encoded, plan = self._shared(pbegin.pipeline)
      return encoded | f"Examples_{split}" >> beam.FlatMap(
          _examples_of, beam.pvalue.AsSingleton(plan), split,
          self._geometry)

    return split_examples()  # pylint: disable=no-value-for-parameter

  def _shared(self, pipeline):
    if id(pipeline) not in self._outputs:
      self._outputs[id(pipeline)] = self._build(pipeline)
    return self._outputs[id(pipeline)]

  def _build(self, pipeline):
    beam = tfds.core.lazy_imports.apache_beam
    records, base_dir, geometry, settings, report_dir = self._arguments
    digests = (
        pipeline
        | "ListFiles" >> beam.Create(plan_lib.readable_paths(records))
        | "Digest" >> beam.Map(per_file.digest, base_dir))
    encoded = (
        digests
        | "Readable" >> beam.Filter(lambda d: bool(d.sha256))
        | "BySha256" >> beam.Map(lambda d: (d.sha256, d.path))
        | "GroupCopies" >> beam.GroupByKey()
        | "OneCopyEach" >> beam.Map(_canonical)
        | "Encode" >> beam.Map(_encode, base_dir, geometry))
    plan = (
        pipeline
        | "PlanOnce" >> beam.Create([None])
        | "Plan" >> beam.Map(
            _plan,
            beam.pvalue.AsList(
                pipeline | "Records" >> beam.Create(list(enumerate(records)))),
            beam.pvalue.AsList(digests),
            beam.pvalue.AsList(encoded | "Metadata" >> beam.Map(lambda e: e[0])),
            settings, report_dir))
    return encoded, plan
