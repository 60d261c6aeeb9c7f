"""Converted bytes are pinned: every golden model, both targets, the default dtype and fp32, hashed.

A refactor must leave every output byte-identical. A change that alters output on purpose bumps
rvc_convert.OUTPUT_FORMAT_REVISION, re-records the table and adds its digest to TABLE_DIGESTS
(`python tests/test_output_hashes.py` prints both). Bundles may key their reuse on the revision,
so changed bytes without a bump fail here, and so does a re-recorded table without a new revision.

`weights_sans_rules` hashes the weights file with the recorded rules hash (64 hex digits in the
metadata) blanked: rule-pack edits that change no tensor (comments, declarations) change
`weights` and the revision, never `weights_sans_rules`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
if str(_TESTS) not in sys.path:  # run as a script: `python tests/test_output_hashes.py`
    sys.path.insert(0, str(_TESTS))

from golden import find_golden  # noqa: E402
from outputs import output_metadata  # noqa: E402

from rvc_convert import OUTPUT_FORMAT_REVISION  # noqa: E402

# rvc_convert.OUTPUT_FORMAT_REVISION, by revision: 1, the first pinned outputs. 2, rule packs edited
# (weight-norm axis declared per layer kind, `targets` dropped, comments): only the recorded rules
# hash changed, `weights_sans_rules` and every config sidecar stayed identical. 3, Applio's MRF
# HiFi-GAN and RefineGAN voices convert: their golden voices added; every earlier entry unchanged.
# 4, the `linear` layer kind declares weight_norm_axis 0 (FCPE's weight-normed output projection):
# only the recorded rules hash changed, `weights_sans_rules` and every config sidecar stayed identical.
# 5, the retrieval family (a voice's FAISS index) and its `table` layer kind in layouts.yaml: every
# rules hash changed, `weights_sans_rules` and the configs stayed identical; the golden index added.
# The digest of the HASHES table each revision recorded: re-recording the table without a new
# revision (or bumping without re-recording) fails test_the_revision_names_this_table.
TABLE_DIGESTS = {
    1: "09963ad47bb407d16e13dcf0fd427fefada76cd3ba7c45476cd765175889736a",
    2: "cca946bfd99e88568b3a2a2ad12416504948ad4f8e7009ab86f1703347da7c7a",
    3: "6c28eafe0d58978b228701d7b53ab827b5abc1f7374be46bb654a93a14cfecdb",
    4: "fc9fd0332c7dc4cbe548711a8a9f4a159ae869dbf05b4bad8b599629846f3310",
    5: "80efbc630d90a5e6db485e02a7a3fa67907d01a26acd61553208ad14f8c75620",
}

GOLDEN_MODELS = (
    "synth/models/v1-40k-f0-tiny.pth",
    "synth/models/v2-48k-f0-tiny.pth",
    "synth/models/v2-32k-nof0-tiny.pth",
    "synth/models/v1-32k-nof0-tiny.pth",
    "synth/extra/G_2333333.pth",
    "synth/extra/v2-48k-f0-tiny-applio.pth",
    "synth/extra/v2-48k-f0-tiny-parametrizations.pth",
    "hubert/hubert_tiny.pt",
    "hubert/contentvec_tiny_hf",
    "rmvpe/rmvpe_small.pt",
    "synth/models/v2-40k-f0.pth",  # 55 MB, only in the shared golden set
    "vocoders/models/v2-40k-mrf-tiny.pth",
    "vocoders/models/v2-48k-mrf-tiny.pth",
    "vocoders/models/v2-32k-refinegan-tiny.pth",  # 26.5 MB, only in the shared golden set
    "pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index",  # a voice's FAISS index
)
TARGETS = ("ios", "mlx")
DTYPES = (None, "fp32")  # None: the source's own (fp16 for exports)

# (model, target, dtype) -> sha256 of the weights file, of the config sidecar, and of the weights
# file with its rules hash blanked.
HASHES: dict[tuple[str, str, str], dict[str, str]] = {
    ('synth/models/v1-40k-f0-tiny.pth', 'ios', 'default'): {
        'weights': 'd3f58de3208187f4d52b9e85203cb5c9050206f619835c828d179b31a21f9b24',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '74d2448cc474c6c3ac51389b61e93b2a2bf320125bdbe5fc52a1a1e6e21e5568',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'ios', 'fp32'): {
        'weights': '4371734742ab518a7d0d00763331665b58aabc0ff65434e203bedd09d7e4836d',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '24f6d84a21061e415b660f9d4495f0d71851de9fb091d9ed4cff832ce087c8d5',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'mlx', 'default'): {
        'weights': '5f847e68521bf443fbe9d534897402ed945d3afed6c5e020ba21538e40b2f7ba',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '51e4034202117e6d05f57244f512c51ec66312ef9c9ecfaef0cd276855ae169c',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'mlx', 'fp32'): {
        'weights': '4a71c1207baeb7f448136652abc3b34dac2af91d3e0f9232564ef0b0f4e2aaae',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': 'df0b514768df70b0efa207a4ea52146da71fbd4f09271e549a2bedd36b1855fa',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'ios', 'default'): {
        'weights': 'de18a473078dc8faa5e2a3883a7c46d6be26cf0031609611756040359b42ee89',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '66a5b4a47c0b9e646eff95cb38f95e8f10d895679b646b17fd5f1983cc7fdc06',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'ios', 'fp32'): {
        'weights': 'ca029d121c482d8eebd86f219c95c5e460f8dc9d7ee5111568089b75f51ef0b3',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'eb6afdd47dc9a1a50a569176b9de77e8453195d290ccc31c4678939575a523e7',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'mlx', 'default'): {
        'weights': '352b63ac809d2d6acb6db706ec8451ad073115af6e3c33dee89cb2565e7b7534',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'a08b19c57958d87123ae9a682c9d2744c4e100b50d97b38dd51c1f8f0e28116a',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'mlx', 'fp32'): {
        'weights': '9fd438f42eb7ff321e36d7853b92b7ce254b0647b60312d6c5cec0797cc8a3ef',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'c5d802eb9c7a66b23d05061e57ac784fb588ed99a696de6df8159168d0948eed',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'ios', 'default'): {
        'weights': '165e1bbd8c20063f6bb6b8d2b2f08801c9d93fe1d2dc7da24172adebb6fbe6a0',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '0d78443856ba239a1b49e35b9437814a9322eb36402fc4ef0fbe6c1731f544a2',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'ios', 'fp32'): {
        'weights': '2be7a36ae64f280a4b2aa0fbebc29710254d6e82390db4f74a3d43430897b499',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '095dd236c67ff7f0581b192eabbaa2e2185085d2850e84faf6aac2e530aa0b76',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'mlx', 'default'): {
        'weights': '3856c6cf1750753390db0b2b0dbe989ce5f0cc0fc7a2d27a61cd9c44676f6f25',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': 'fec1db461d03b13dedb68a72cbf6804943eb46c460e896c13d9c8c9c3c31eb37',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'mlx', 'fp32'): {
        'weights': '245ae01d3e77273a1da8fcb6f0ca8efdd6d29a371b9ebb5a03ded87786101b01',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '1696a76c4967abf32e0b95281e9effff59d756bc3553e3279d8d05d348fefdb6',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'ios', 'default'): {
        'weights': 'c216770c97c42045251edd37ebc4d2e3623e0273be2b71c35415e0663def0342',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '47fdbb8a73e705e7f4d099160dd2982fa29a0311a420ec13aec2a500fee33b7c',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'ios', 'fp32'): {
        'weights': 'd178330c823519c76d035e9b4221387765d06c820b38134ed60af1dc0dfe304c',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': 'f0253e107e9ddb0df152bc72511a153347c61ebd2068e0682b3c56f8c488b5d2',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'mlx', 'default'): {
        'weights': 'bef981de4e0d88a0ffdcb7bd1c28695434c1a91d959d2dbbb4027e00c3c3a838',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '440dcd8be2e223e5c58a301f2135b5b29fe1441ec29dd26f31ab8d5411ed6f8d',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'a1cba7d5877b58e743b8888c30210ea500c00823b43dbf38d430b9f348a497e3',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '31719d2add446401e4e6b80a6d05854a93ecbad3705c52f9c3e31a649b2ba32f',
    },
    ('synth/extra/G_2333333.pth', 'ios', 'default'): {
        'weights': '8be0f83ac280f03d09194703770aa0d7a7196fc9ecb42df9a8467e13a71e0d1b',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e8c300fdd53b73c71aed65bb810dedfbf7e4fe542e42aa85e87a32a83bac2a1a',
    },
    ('synth/extra/G_2333333.pth', 'ios', 'fp32'): {
        'weights': '8be0f83ac280f03d09194703770aa0d7a7196fc9ecb42df9a8467e13a71e0d1b',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e8c300fdd53b73c71aed65bb810dedfbf7e4fe542e42aa85e87a32a83bac2a1a',
    },
    ('synth/extra/G_2333333.pth', 'mlx', 'default'): {
        'weights': '35a0fa000c4ebca2c9afea29edf57d71a8f80e74cacf04c8c8a7ba01f2bf197c',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '086f3ea1855ddd1d3a42e5f5f55952b0b835529495f48262964e146717288d77',
    },
    ('synth/extra/G_2333333.pth', 'mlx', 'fp32'): {
        'weights': '35a0fa000c4ebca2c9afea29edf57d71a8f80e74cacf04c8c8a7ba01f2bf197c',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '086f3ea1855ddd1d3a42e5f5f55952b0b835529495f48262964e146717288d77',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'ios', 'default'): {
        'weights': 'b9d0d8471263c327a8d592ed4500241c7b8d7fd4a403fe53cd3829ef6cd27028',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '5b6c9d2c7a561de8d6aa2997ad11a353b2dc03eac2b20972fdb95b7dd1c8e601',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'ios', 'fp32'): {
        'weights': '0b56b91dbe6d51320626f6449e88ba2616c6bda3fe0e9f29694b35e02a8e6309',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '12d9226add592b140b397972f9ae3c12b06394e2bd08ef9258ec932ab4058ac6',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'mlx', 'default'): {
        'weights': '0810dcbd929d3a230912f06bbbe57f34de4356288d240c694908e95e4ce62bb7',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'f1a7ae5cd9a2213a43af51c82da9f86489fce8227bcdf04ea4cd8815d6b1c272',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'mlx', 'fp32'): {
        'weights': '8cb7e2b6882b66da03dd3626f5d70b0e8adde47c7b30ed82729715411ca21a29',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '670af7bdee4c2aa75ff8bd6b86251f688cc9b556e80587ad216f755f85fa6e50',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'ios', 'default'): {
        'weights': '1e4b4b9ae53a4abefc60391e167c45ac42219f7db8268e8cd2da0fbe27febaee',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '545de3bb53439c27c9cd9a4aa461692a9f4551247e5268ec4a89808e768409e4',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'ios', 'fp32'): {
        'weights': 'd39c9c11e9e2dc085882aace38b050b306e68c650737d6628a68c2b3911ea0a9',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '14602179e60c64aca430c4b4a1106e40cbf1ca7f5c99bdec82ce8adda1cb2f26',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'mlx', 'default'): {
        'weights': 'f272d45799a3388c42fc6b5443e0fe21b0168791e9c97632933d25aab54c2582',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '8b97972ba3323bfd5e449c4a318d3bf38361a7f419d64a03933bf77e460d1fbf',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'mlx', 'fp32'): {
        'weights': '95d1a6c3a06253de8e5df2843c9e171e3158c8b08a0a4b92a8ede9299469d91d',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '6e7d1c83750acb91d357b7bd753d332544d7ecd922df40f586021e3fa862b904',
    },
    ('hubert/hubert_tiny.pt', 'ios', 'default'): {
        'weights': 'eef128ca5a0957aab406d847789e91fc765dfdf694083cfb4188f3aee918056e',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '06ffb706689a4841878826153cee7ba4bba859f11eb39d0c6b71f09cfefbdb1d',
    },
    ('hubert/hubert_tiny.pt', 'ios', 'fp32'): {
        'weights': '7f0ca0ab228943cbdbc8dea13b64be3642ddf0a6546a69d6e8dd0eaa76f98b36',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '1b531833f098cbd0e769b3c27f3e4153b69d5889bba85c5063bb5be8a765a6ea',
    },
    ('hubert/hubert_tiny.pt', 'mlx', 'default'): {
        'weights': '9ca8328aa2bca9c4faa8b5adf533edb3ff8cba38df53749b61a10982593314bd',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '67220cc94af7ca8921208f832a2859361ddc2ff4f0b3fc1dcea05b756a2f693c',
    },
    ('hubert/hubert_tiny.pt', 'mlx', 'fp32'): {
        'weights': 'b057ccf3d4c5201dd9c03219175adc6e57372866d8f2447246702505ece064f7',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': 'd9f07533f45fb055308bfca98d2fe4e3633a2cbcadc80fcb7c763bff49a92c1f',
    },
    ('hubert/contentvec_tiny_hf', 'ios', 'default'): {
        'weights': '43452cf4658aa4dba846de6859b03938b9a2bef43c343eca2311d15a9db3c64a',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': '78abf0fbb174814b0e39a6447e8de747cf3599e759a451705a24761e38c292ec',
    },
    ('hubert/contentvec_tiny_hf', 'ios', 'fp32'): {
        'weights': '43452cf4658aa4dba846de6859b03938b9a2bef43c343eca2311d15a9db3c64a',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': '78abf0fbb174814b0e39a6447e8de747cf3599e759a451705a24761e38c292ec',
    },
    ('hubert/contentvec_tiny_hf', 'mlx', 'default'): {
        'weights': 'd9caf681ae64f5573f3e2619761d6b8825bbf98fa8e6078bed2454e1c5a91dd3',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': 'd255de95c8ec050c5a54b89f5e5bbf50a67b6cc24e792cb93cce0cabc003f54e',
    },
    ('hubert/contentvec_tiny_hf', 'mlx', 'fp32'): {
        'weights': 'd9caf681ae64f5573f3e2619761d6b8825bbf98fa8e6078bed2454e1c5a91dd3',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': 'd255de95c8ec050c5a54b89f5e5bbf50a67b6cc24e792cb93cce0cabc003f54e',
    },
    ('rmvpe/rmvpe_small.pt', 'ios', 'default'): {
        'weights': 'dff2a7d51865842b0733dfba81200bd519a7edf2563e7ab7878f144ca0c7f36a',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '7bbaabee69850156e8b36a66a8d0b9b4cefb84cfad1804930f894dc27dc29f7f',
    },
    ('rmvpe/rmvpe_small.pt', 'ios', 'fp32'): {
        'weights': 'be736c19f0f2bac22dc2a624dad65f931d92453cdd6e061fb0e863a500031869',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '30d12c2f6b3f88a7422054c5c889ce718d8e590692d3ad5f3a61865f41d67e88',
    },
    ('rmvpe/rmvpe_small.pt', 'mlx', 'default'): {
        'weights': 'fac8628cef8d58817673818a964526cb7707b40bc738cebb05edee9748e9af2d',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '63063f36d41f5122a7d609b8dc4b5db7c1e10355bff182531061505cae36c65a',
    },
    ('rmvpe/rmvpe_small.pt', 'mlx', 'fp32'): {
        'weights': '5e092f54b759328803326401bffd3c6ce5645d6b89b13e5488a47b457c5e966e',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '1ec9e1c22749da1a893e6ef9a0e682eef8ebe9840626ad1cad8460184a90d0fa',
    },
    ('synth/models/v2-40k-f0.pth', 'ios', 'default'): {
        'weights': 'e4f89feb19e747d37fd15131b4d66d5d85f3c8dc95ae3ffd3f66675f376e1a23',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '694e46e3fed3399ac709635bfa31d07646be3d3eeb7fa817cb2fc1dae4b4d11a',
    },
    ('synth/models/v2-40k-f0.pth', 'ios', 'fp32'): {
        'weights': 'cfb2aec8df201fbc721451b44f8cae4bdf580910fd29d979849385821496af7a',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '427ca32f0b00430c7d6e0d4e733b1d945d57fb3979e7b11fb4d4c34439408c58',
    },
    ('synth/models/v2-40k-f0.pth', 'mlx', 'default'): {
        'weights': '86c56bc5cf9bf271e84e914ce0c0920d6c8d96676949c5c4f26be76eb395dcfd',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '43923ecd8c08c593c2217985a2f2373551a787a909f4b94fd9efd3d46d7907fc',
    },
    ('synth/models/v2-40k-f0.pth', 'mlx', 'fp32'): {
        'weights': 'e98d6a9feed22b72d82c35777afd006d2c18f84810c67b4a505489fca41b327e',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '70cc8358128a66e3e5847d3b54205211f3792c08652cb3eb9f2c6e8bde0412df',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'ios', 'default'): {
        'weights': '0e38a2047164343b82714a0599a261951e7935c0651e47f5cccc7a5de310170f',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '082dcb7d405c571009b01782533a11d3418cf04975dcc28c8a91b3db8ae9afbf',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'ios', 'fp32'): {
        'weights': 'dc5f9cee28e43586e08e2778fead71445012df8f2c022a6b2992c525ecf42837',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '7fadaeff71d5a96bae5d7ae28afca806ec97687240a6138e73aae390d1edaff1',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'mlx', 'default'): {
        'weights': '023c8789a35e5d95e2bc16db07a9ead38f92a24ef0102d75159617948a40fc1f',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '6696131fcf9f7070fadf081b601f27a8339969427e9cb3ee1e90e7340c650ff1',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'mlx', 'fp32'): {
        'weights': '27d9e5c64dcfc7ad5ac3fcdd2feda2c6f698c6847b14771bf06af4c6d49e3db4',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '08ea01b700369cf7e1334df4a1b065cfe11a8563edf9e0b48747f750eec42bd0',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'ios', 'default'): {
        'weights': '97a31e3f363feb0357d8756e1555d24773468199f1caf2258351c2a6fa3800c1',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'cbfb1187194b1c4b8fc93875d4cc397d3d96a3d39c0cd76b42eb0729411fa230',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'ios', 'fp32'): {
        'weights': '7ff869ad23a38fb15578f25235e12adf0882ac5761ce1d83d36967b1b4940827',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e3c4052d99e66b2efa94256cec5ffa2746d9c6899083d454112dfdcbfc979928',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'mlx', 'default'): {
        'weights': '660e97625ad4ef056fef63ffec7a8220cd649ab1ed13a5e2ab68c6cad8598a9e',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'b227db0c698f206e7a275bae14803032e25d771146abfa27209dffe2ddd8aa91',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'b364c3952e8ee1f4c23317d70aa05ac682a18b22625d4d072dc058974340f39b',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '3f4cee16272379f2197c69ddbedd5476afbd0bd10f78a19039bb5000897c712b',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'ios', 'default'): {
        'weights': '9e330c7560b786011a3dac2a080aeeb461cd82dec82b3eab3f76a41528a3aa81',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '2490321c3478dcfa0db9716a1b156a91fbb3254f4880a6ebb9dd4cf25106e16e',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'ios', 'fp32'): {
        'weights': 'b2f73cf70fc4fa042d5b58a37a8ecabc4011adc79ab93e0967db3ab4cac0c2db',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '1b92b35ba2473a815923c09a6ececd570f0e8c4126043f1d33a2023e90727113',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'mlx', 'default'): {
        'weights': '13834a7321b847795388d2731ec2a0d5945b5c71cca60aa7f93f20dcf245d071',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '4fe1a009f590c82a16c8d4043ea4bd77fee36edaa77d828dfa452de5cadc011f',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'mlx', 'fp32'): {
        'weights': '08d423e303b5c0f72a78b580c657320a2a87421dffd6307e553d7f45b31c7e6f',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '169c57920d953c7b928dd9cecc069b00b6cce56671d45c43715665d59c5cecd7',
    },
    ('pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index', 'ios', 'default'): {
        'weights': '6c679ac76dc9eed9ab5352f3b155fa96557a5657d08b7f55f073fd43868c256b',
        'config': '1d0d2c6a521bfcf03bbd01bb4c6201f5fe766d9282d5cf8ad27752d9b3aa8efd',
        'weights_sans_rules': '243b90766657b58ed9cfc653c2209a1bc3cff22f905b80fe349bfc4ea6013f93',
    },
    ('pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index', 'ios', 'fp32'): {
        'weights': '6c679ac76dc9eed9ab5352f3b155fa96557a5657d08b7f55f073fd43868c256b',
        'config': '1d0d2c6a521bfcf03bbd01bb4c6201f5fe766d9282d5cf8ad27752d9b3aa8efd',
        'weights_sans_rules': '243b90766657b58ed9cfc653c2209a1bc3cff22f905b80fe349bfc4ea6013f93',
    },
    ('pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index', 'mlx', 'default'): {
        'weights': 'ce016dd81bf7361da8b17b27f7d3bbb68de335a08c1b82762e156152e56d384a',
        'config': '1d0d2c6a521bfcf03bbd01bb4c6201f5fe766d9282d5cf8ad27752d9b3aa8efd',
        'weights_sans_rules': '2c2f3e50d278a616645cc962f042318c664b149513bacbb44f8d422dbf778b60',
    },
    ('pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index', 'mlx', 'fp32'): {
        'weights': 'ce016dd81bf7361da8b17b27f7d3bbb68de335a08c1b82762e156152e56d384a',
        'config': '1d0d2c6a521bfcf03bbd01bb4c6201f5fe766d9282d5cf8ad27752d9b3aa8efd',
        'weights_sans_rules': '2c2f3e50d278a616645cc962f042318c664b149513bacbb44f8d422dbf778b60',
    },
}


def convert_and_hash(relpath: str, target: str, dtype: str | None, out_dir: Path) -> dict[str, str]:
    from rvc_convert.convert import convert_model

    result = convert_model(find_golden(relpath), target, out_dir, dtype=dtype, name="model")
    weights = result.weights_path.read_bytes()
    rules = output_metadata(result.weights_path)["rvc_convert.rules_sha256"].encode("ascii")
    assert weights.count(rules) == 1, "the rules hash must appear exactly once in the file"
    return {
        "weights": hashlib.sha256(weights).hexdigest(),
        "config": hashlib.sha256(result.config_path.read_bytes()).hexdigest(),
        "weights_sans_rules": hashlib.sha256(weights.replace(rules, b"0" * len(rules))).hexdigest(),
    }


def _cases() -> list[tuple[str, str, str]]:
    return [(model, target, dtype or "default") for model in GOLDEN_MODELS for target in TARGETS for dtype in DTYPES]


@pytest.mark.parametrize("model,target,dtype", _cases())
def test_golden_conversion_bytes_are_unchanged(model, target, dtype, tmp_path):
    """Converting a golden model gives exactly the recorded bytes at this OUTPUT_FORMAT_REVISION."""
    if find_golden(model) is None:
        pytest.skip(f"golden file {model} is not available")
    found = convert_and_hash(model, target, None if dtype == "default" else dtype, tmp_path)
    assert found == HASHES[(model, target, dtype)], f"output of {model} -> {target} {dtype} changed: bump OUTPUT_FORMAT_REVISION and re-record"


def table_digest(table: dict[tuple[str, str, str], dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(sorted((list(k), v) for k, v in table.items()), sort_keys=True).encode()).hexdigest()


def test_the_revision_names_this_table():
    """The package's OUTPUT_FORMAT_REVISION is the latest recorded revision, and it recorded exactly
    this table: changed hashes need a new revision (bundles may key their reuse on it)."""
    assert OUTPUT_FORMAT_REVISION == max(TABLE_DIGESTS)
    assert len(set(TABLE_DIGESTS.values())) == len(TABLE_DIGESTS)
    assert table_digest(HASHES) == TABLE_DIGESTS[OUTPUT_FORMAT_REVISION], "the table changed: bump OUTPUT_FORMAT_REVISION and add its digest"


def test_every_case_is_recorded():
    """The table covers exactly the cases above: a model added to the list needs its hashes."""
    assert set(HASHES) == set(_cases())


if __name__ == "__main__":
    import tempfile

    recorded = {}
    with tempfile.TemporaryDirectory() as scratch:
        print("HASHES: dict[tuple[str, str, str], dict[str, str]] = {")
        for index, (model, target, dtype) in enumerate(_cases()):
            found = recorded[(model, target, dtype)] = convert_and_hash(model, target, None if dtype == "default" else dtype, Path(scratch) / str(index))
            print(f"    ({model!r}, {target!r}, {dtype!r}): {{")
            for key, value in found.items():
                print(f"        {key!r}: {value!r},")
            print("    },")
        print("}")
    print(f"# its TABLE_DIGESTS entry: {table_digest(recorded)!r}")
