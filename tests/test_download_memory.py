"""The weights download (a state_dict .pt) is built when clicked and then let go (issue 10, item 2).

It used to be an st.cache_data entry with max_entries=32 and no expiry: three VGGStyle
downloads kept 1.26 GB resident in a server shared by a whole class.
"""

from __future__ import annotations

import io

import torch

import pinit
from pinit.dashboard import share
from pinit.setup import Setup


def cached_bytes(function_name: str) -> int:
    """Bytes Streamlit's data cache holds for `function_name` (0 if it holds nothing)."""
    from streamlit.runtime.caching.cache_data_api import _data_caches

    stats = [s for family in _data_caches.get_stats().values() for s in family]
    return sum(s.byte_length for s in stats if function_name in s.cache_name)


def test_state_dict_downloads_are_not_kept_after_they_are_built():
    for seed in range(3):
        data = share._state_dict_bytes(Setup(plan=pinit.PRESETS["Kaiming (He)"].plan, seed=seed))
        assert set(torch.load(io.BytesIO(data), weights_only=True)) == set(pinit.build_model("SimpleCNN").state_dict())
    assert cached_bytes("_state_dict_bytes") == 0
