"""The results' JSON text: the same content as ``json.dumps``, lists of numbers on one line."""

import json
import math

import pytest

from semcom.experiments.results import Results, dumps


def test_dumps_round_trips_and_keeps_number_lists_on_one_line(tmp_path):
    data = {"psnr": [21.5, 22.25, None], "rows": [{"snr_db": -2.0, "ok": [True, False]}, {}],
            "names": ["a", "b"], "empty": [], "nested": [[1, 2], [3]], "n": 3}
    text = dumps(data)
    assert json.loads(text) == data
    assert '"psnr": [21.5, 22.25, null]' in text
    assert '"names": ["a", "b"]' in text
    assert '"empty": []' in text and '"nested": [\n' in text
    path = Results("r", data, {"seed": 0}).save(tmp_path)
    loaded = Results.load(path)
    assert (loaded.name, loaded.data, loaded.provenance) == ("r", data, {"seed": 0})
    assert len(path.read_text().splitlines()) < len(json.dumps(loaded.to_dict(), indent=2).splitlines())


def test_dumps_rejects_nan():
    with pytest.raises(ValueError):
        dumps({"x": [math.nan]})
