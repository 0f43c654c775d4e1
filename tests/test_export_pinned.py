"""export_code's script pinned byte for byte: a refactor of how the script is written (the
template module) must not change one character of it, for every preset on every model and for
the cases that take other paths (no rules, sparse, model options with an override, a model
instance). The pins are the sha256 of the script export_code wrote before the template module;
tests/test_export.py checks separately that the script reproduces apply_plan bit for bit."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

import pinit
from pinit.share.export import export_code

PRESET_SCRIPTS = {
    ("PyTorch default", "SimpleCNN"): "e13435d9b1c15bbb0954177968680ba1ba244caf6e844ebbfc2f608fd3611c70",
    ("PyTorch default", "ArticleSimpleCNN"): "7d05dcde9677480ee21afcbd203f5b22c783c0ed1ef1ac0173b5d580b27fec3f",
    ("PyTorch default", "DeepMLP"): "eab24ac9e8b25b41876ad48bc214fa9f4f2d5cbc38518d718b2fbccbf6377b4f",
    ("PyTorch default", "WideMLP"): "bb5ae4f3d189483e6853f4ed9b1cc82d2adc0f3de9ccad46be552aeaf0e37e9d",
    ("PyTorch default", "VGGStyle"): "32c774f14a5ed8281400341879e08ed2599d25cbbbb5a2f091afefdc84b68e99",
    ("PyTorch default", "TinyGPT"): "85ef642fee0ba5a18387c4a42aebbd958c30eae5f32297b173c330525f11f557",
    ("Article recipe", "SimpleCNN"): "1a9312910eb430c8a02bc615741a8e27c09fcc8774f3b1a0981a2a26013af702",
    ("Article recipe", "ArticleSimpleCNN"): "b5e74a88ed696f993ad814bbd5c6eb62a968b7260eb9ef2dcf184eb69b21bcd3",
    ("Article recipe", "DeepMLP"): "914f5df5ca7eb192c680a09ebbb19bf1f2d1b8a475da0de75928221d1fec4b4c",
    ("Article recipe", "WideMLP"): "701472d3823308bfdb297f313498503e685ce500ee323ab9d2d5d2d39c3c18c3",
    ("Article recipe", "VGGStyle"): "f5afff58ae6b48c33c54bc9657b5e413b96194c23042fd7c17eab4443e8fbb97",
    ("Article recipe", "TinyGPT"): "7e7a00b2d2a6c1a27c4ae455b480e62dd54af052010a6b583eb87f8d615e5074",
    ("Xavier (Glorot)", "SimpleCNN"): "23f75ffac6f60ed467d7e914b5f1a50e4996e37b6e5fd04f344df500a426ad81",
    ("Xavier (Glorot)", "ArticleSimpleCNN"): "15073c18e4af56d1e5549e8f759b46c436ff307ddf1fc9255fa0e131e555a48f",
    ("Xavier (Glorot)", "DeepMLP"): "a7fe2d100eb6468b1c8666766835b9262fb5f4b7318a3cf6ac492515b619f165",
    ("Xavier (Glorot)", "WideMLP"): "7c2720034cac6102dbcac04c136b1ba6fc9c8a1c35d79d1e799dedc7ce238d95",
    ("Xavier (Glorot)", "VGGStyle"): "61f0f99e05c730efe36a672004904f1a7e42ff3b772ec8bfda778969bb4c897c",
    ("Xavier (Glorot)", "TinyGPT"): "c6610cba77d7307e5021b1bf2a7375b6139c95b6b81eb7eaf859c34838ee3d68",
    ("Kaiming (He)", "SimpleCNN"): "401c70893881aa30a44ded78df9600c895d218a133c76260eafea99fba3ce276",
    ("Kaiming (He)", "ArticleSimpleCNN"): "534c0f1eec2be802009d3dfcb7e7b6e57d46855928ab92fb6657a29a43994c42",
    ("Kaiming (He)", "DeepMLP"): "33ea6767736c4e70ccc0ee795c0294b2db44f2b00dbde0608080d8ea7428ec6b",
    ("Kaiming (He)", "WideMLP"): "763216c4e328fd3e2d006c6d6bdff3104926bd5657c77240d974af645ede8ec7",
    ("Kaiming (He)", "VGGStyle"): "f4926bea85c742246231a7c62767812959e94fab8a828da93635e3d02b11f937",
    ("Kaiming (He)", "TinyGPT"): "94d9230be5d3fc3cca971bff41f3f22db9a6f8eeda11404ccb8af3017e6af53a",
    ("Too small: N(0, 0.01)", "SimpleCNN"): "cb3ec419e16e16304e105b57602f580ba4de56b14ec088281ea4c6c1d83eae09",
    ("Too small: N(0, 0.01)", "ArticleSimpleCNN"): "b34914e81782cb15c1c3f62a7f100601332965a84b5fd36e9f608da3b5f3917b",
    ("Too small: N(0, 0.01)", "DeepMLP"): "d4007e6318680b651a45fbeb1b862882979d8226e47994fdadc432d55882d50e",
    ("Too small: N(0, 0.01)", "WideMLP"): "ad24fa65d6da558e3f7a791146bf32bab4f77e8a72a1fbc3646d2f74f1aee5b1",
    ("Too small: N(0, 0.01)", "VGGStyle"): "f9a179440758d3486cd12eaa1f4e8e17f61b898e18b82f3ff5e220edc2ac7c97",
    ("Too small: N(0, 0.01)", "TinyGPT"): "702c0e8bf147109b94f2a80b96d651b8221ec7c3079dc632039089887ba8f349",
    ("Too large: N(0, 1)", "SimpleCNN"): "da49cd6a94d95d7fad03c37fa46a4de906c247c8ca51b69fc1e99577a662e167",
    ("Too large: N(0, 1)", "ArticleSimpleCNN"): "0b5e5ebd4ba675e6defe3d1b295f196ea2b9a3c31fc5eafa4e426d8e8fafd2d2",
    ("Too large: N(0, 1)", "DeepMLP"): "4d9f777ca9be585dd26e723d7d008454405bf1ef8475b766e87f36480b1dc1d4",
    ("Too large: N(0, 1)", "WideMLP"): "818dc904f63b7cef87dc5e3b9c76b9fa6cd56b16b2cbcc87ab4e31888d24e7c6",
    ("Too large: N(0, 1)", "VGGStyle"): "b9a23583f42947fc35499d9b6a054bb3d5490b76c51265015387f9132b56e704",
    ("Too large: N(0, 1)", "TinyGPT"): "4f57d0c804f69ff185ed3fcf42308f49be02030de5fe9622c2756b684a574751",
    ("Zeros (the symmetry trap)", "SimpleCNN"): "e5a42fa57647fa98b58e8cd134af15d56d76d2e9d4e79618b86ca22a4f8e5068",
    (
        "Zeros (the symmetry trap)",
        "ArticleSimpleCNN",
    ): "459b7bc566d16194566c7e66434f63d4604637a7742a941fa6d67b993302a268",
    ("Zeros (the symmetry trap)", "DeepMLP"): "9cc6b51b7dff9e56d8ff50564b48c4eccd41419ea1517cc3cdde3d9b42229805",
    ("Zeros (the symmetry trap)", "WideMLP"): "5daebc150428fa8246af64bc4dfc4084900de37b61d14ecf64536fd6b43d43b4",
    ("Zeros (the symmetry trap)", "VGGStyle"): "8bdcc9d1b2995373a77d9ca072228c2d06f3c796d8918d2f3752d3f09cf5bf2e",
    ("Zeros (the symmetry trap)", "TinyGPT"): "2c33c16cf9c7a1bfbe1d9beb6b5a08b1bc0b759cb298aadefdc51794a48ad417",
    ("As built", "SimpleCNN"): "9d42e9afb0e2177e1876c7f206ec575ac8d13f6118845fee6084382f1254a899",
    ("As built", "ArticleSimpleCNN"): "4c8346cce234723c55b534916c42a6b7e228db92fcd95be88a34f33542ab5710",
    ("As built", "DeepMLP"): "a1caa1e8d1de2f953ccf822af3a004a234ad4ae66977fff2d0ffa2efc3267358",
    ("As built", "WideMLP"): "604f2d960b817f589834af19cd3ab26627e31f7ff9bab9290f2991e12a6a00b1",
    ("As built", "VGGStyle"): "38f5d88a0f8039d8452303a1c0b86d03005c0665847a3193b350be7c5cc7bb5b",
    ("As built", "TinyGPT"): "17bd21bc006e7c15c65bd2a1469ceb2e4558bd071b74447cc2d30de9c096c6cf",
}

OTHER_SCRIPTS = {
    "no rules": "9d42e9afb0e2177e1876c7f206ec575ac8d13f6118845fee6084382f1254a899",
    "sparse": "36720cd92ad678f57d6a2903a072c76fd854355102c1a96046af60bf54f20fb5",
    "options and override": "8db3ebe8c1129b19d9571f0ba9715098479ae2ca3f073fa9d99d530193a2f7b9",
    "a model instance": "85ab8da7ecea7843035f1f0e66b2155236427e8b6cbac23fa4e05b15e543a6e2",
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_every_preset_and_model_is_pinned():
    assert set(PRESET_SCRIPTS) == {(p, m) for p in pinit.PRESETS for m in pinit.MODELS}


@pytest.mark.parametrize(("preset", "model"), list(PRESET_SCRIPTS))
def test_preset_script_is_unchanged(preset, model):
    assert sha256(export_code(pinit.PRESETS[preset].plan, 0, model)) == PRESET_SCRIPTS[(preset, model)]


def other_script(case: str) -> str:
    if case == "no rules":
        return export_code({}, 0, "SimpleCNN")
    if case == "sparse":
        plan = {"rules": {"Linear": {"weight": {"scheme": "sparse", "sparsity": 0.3, "std": 0.05}}}}
        return export_code(plan, 5, "SimpleCNN")
    if case == "options and override":
        plan = {
            "rules": pinit.PRESETS["Kaiming (He)"].plan["rules"],
            "overrides": {"layers.fc1.weight": {"scheme": "orthogonal", "gain": 1.5}},
        }
        return export_code(plan, 7, "DeepMLP", model_options={"depth": 3, "width": 16, "activation": "tanh"})
    assert case == "a model instance"
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    return export_code(pinit.PRESETS["Xavier (Glorot)"].plan, 3, model=model)


@pytest.mark.parametrize("case", list(OTHER_SCRIPTS))
def test_other_script_is_unchanged(case):
    assert sha256(other_script(case)) == OTHER_SCRIPTS[case]
