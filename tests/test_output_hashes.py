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
# 4, the retrieval family (a voice's FAISS index) and its `table` layer kind in layouts.yaml: every
# rules hash changed, `weights_sans_rules` and the configs stayed identical; the golden index added.
# The digest of the HASHES table each revision recorded: re-recording the table without a new
# revision (or bumping without re-recording) fails test_the_revision_names_this_table.
TABLE_DIGESTS = {
    1: "09963ad47bb407d16e13dcf0fd427fefada76cd3ba7c45476cd765175889736a",
    2: "cca946bfd99e88568b3a2a2ad12416504948ad4f8e7009ab86f1703347da7c7a",
    3: "6c28eafe0d58978b228701d7b53ab827b5abc1f7374be46bb654a93a14cfecdb",
    4: "4bd59518e9795b31bdcceeaae289ca08799b325084d8f1331ec6389258c07494",
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
        'weights': 'cfaff93a89b01d90a4d81cb7ef8fa4e299644ffb0de3fa238d7a93c1085cb5fb',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '74d2448cc474c6c3ac51389b61e93b2a2bf320125bdbe5fc52a1a1e6e21e5568',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'ios', 'fp32'): {
        'weights': '9255ea383297ebf9f939087498cb32b54da6383d96ee8e404a33fc359b95fb8f',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '24f6d84a21061e415b660f9d4495f0d71851de9fb091d9ed4cff832ce087c8d5',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'mlx', 'default'): {
        'weights': '2080e52abd733f013c5fda218b39dd2f1d4cdc54609461631f329e4e39fe092c',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '51e4034202117e6d05f57244f512c51ec66312ef9c9ecfaef0cd276855ae169c',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'fe6fddf537905b746825c7560e85ac99d911167de70207782039d387a78f4a16',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': 'df0b514768df70b0efa207a4ea52146da71fbd4f09271e549a2bedd36b1855fa',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'ios', 'default'): {
        'weights': '896a99f3bf379871a7b3518e262d959ed768f6c48875ba7cde0baf394957d5d6',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '66a5b4a47c0b9e646eff95cb38f95e8f10d895679b646b17fd5f1983cc7fdc06',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'ios', 'fp32'): {
        'weights': 'e8c8b0aa00fb594ed09c04ed30aac6a4c49caaeaf91165522dd506b8e0286ec4',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'eb6afdd47dc9a1a50a569176b9de77e8453195d290ccc31c4678939575a523e7',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'mlx', 'default'): {
        'weights': '275be2b2e975d633754e9d1e940d52087d88268b843a8c17a436f704ee2c8e07',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'a08b19c57958d87123ae9a682c9d2744c4e100b50d97b38dd51c1f8f0e28116a',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'mlx', 'fp32'): {
        'weights': '5372381fdba14a2ad5a403aae54c6ec4d7df378fe1c875d7dc9bbc49e38c4bf3',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'c5d802eb9c7a66b23d05061e57ac784fb588ed99a696de6df8159168d0948eed',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'ios', 'default'): {
        'weights': 'f0ab0045806b6518502a43986612e842bba25304711ceae5079840b54c85eb4d',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '0d78443856ba239a1b49e35b9437814a9322eb36402fc4ef0fbe6c1731f544a2',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'ios', 'fp32'): {
        'weights': '7f59ae200d7a927b2d12dfda53d9451f1fd3c6c6125f5b4d35d8b7c95670a84e',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '095dd236c67ff7f0581b192eabbaa2e2185085d2850e84faf6aac2e530aa0b76',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'mlx', 'default'): {
        'weights': 'eb1e440b7d41980741b33f0766a744e7300e480a0c4ab00e0bc1dc1978b8bfaf',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': 'fec1db461d03b13dedb68a72cbf6804943eb46c460e896c13d9c8c9c3c31eb37',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'mlx', 'fp32'): {
        'weights': '99f0487c7216d171737805b67f5e9af1fab82ed7f189fe35bf9e3167fb863dfa',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '1696a76c4967abf32e0b95281e9effff59d756bc3553e3279d8d05d348fefdb6',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'ios', 'default'): {
        'weights': 'f775501e22dfafee0ccbb5e3271aa6a1cef1685a54186eef54d73ec2ac8f9c49',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '47fdbb8a73e705e7f4d099160dd2982fa29a0311a420ec13aec2a500fee33b7c',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'ios', 'fp32'): {
        'weights': 'c18335361b9723e46f184082b54e909aec2455cad87aa5b9829ec3d95d73edd3',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': 'f0253e107e9ddb0df152bc72511a153347c61ebd2068e0682b3c56f8c488b5d2',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'mlx', 'default'): {
        'weights': '39d1bd47050ce047230f2387c1cc5cbe719f6cf3c722d283c70d3238a178c98f',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '440dcd8be2e223e5c58a301f2135b5b29fe1441ec29dd26f31ab8d5411ed6f8d',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'mlx', 'fp32'): {
        'weights': '9cda08da86bd816f22d75e1a0ab5e7c8a421f78110ff16cf8cd802f665859c86',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '31719d2add446401e4e6b80a6d05854a93ecbad3705c52f9c3e31a649b2ba32f',
    },
    ('synth/extra/G_2333333.pth', 'ios', 'default'): {
        'weights': '686b6c8068d08c42fabeaeab64fea4daea5d11ebae67904f4bd2eae51bf4e817',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e8c300fdd53b73c71aed65bb810dedfbf7e4fe542e42aa85e87a32a83bac2a1a',
    },
    ('synth/extra/G_2333333.pth', 'ios', 'fp32'): {
        'weights': '686b6c8068d08c42fabeaeab64fea4daea5d11ebae67904f4bd2eae51bf4e817',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e8c300fdd53b73c71aed65bb810dedfbf7e4fe542e42aa85e87a32a83bac2a1a',
    },
    ('synth/extra/G_2333333.pth', 'mlx', 'default'): {
        'weights': 'f8d416cdcfc7ae7a536e15bd21e9ac70447a54e68c9e47ef586461b0edfcd082',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '086f3ea1855ddd1d3a42e5f5f55952b0b835529495f48262964e146717288d77',
    },
    ('synth/extra/G_2333333.pth', 'mlx', 'fp32'): {
        'weights': 'f8d416cdcfc7ae7a536e15bd21e9ac70447a54e68c9e47ef586461b0edfcd082',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '086f3ea1855ddd1d3a42e5f5f55952b0b835529495f48262964e146717288d77',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'ios', 'default'): {
        'weights': '7f5f8340b68b2314854d4496b806c0c10226f2a70e9eec646a0d6859e446cfe8',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '5b6c9d2c7a561de8d6aa2997ad11a353b2dc03eac2b20972fdb95b7dd1c8e601',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'ios', 'fp32'): {
        'weights': 'f04b13348c7b0e583ae38ca720565210ce5c5881943d30d63bf9d81b8fa7e27c',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '12d9226add592b140b397972f9ae3c12b06394e2bd08ef9258ec932ab4058ac6',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'mlx', 'default'): {
        'weights': 'e9e847d25f8cdb37878f92b3278edf83b3231a91f9b6b013e4eedcf70e2a9065',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'f1a7ae5cd9a2213a43af51c82da9f86489fce8227bcdf04ea4cd8815d6b1c272',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'mlx', 'fp32'): {
        'weights': 'e0b8ee5086de4e536eab3af0d653cd412653e36afb95e9d70ec9a9cbb6df1c05',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '670af7bdee4c2aa75ff8bd6b86251f688cc9b556e80587ad216f755f85fa6e50',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'ios', 'default'): {
        'weights': '88e976f963c0ff0356533db687fcd6f8a1b4f180a01f90a19390944d8161789f',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '545de3bb53439c27c9cd9a4aa461692a9f4551247e5268ec4a89808e768409e4',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'ios', 'fp32'): {
        'weights': '33923222d1b94ad0b93474906cf074d1ee57ad28d02c0f984bb22f9664320479',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '14602179e60c64aca430c4b4a1106e40cbf1ca7f5c99bdec82ce8adda1cb2f26',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'mlx', 'default'): {
        'weights': 'f62a0387862f7a94fb32eec489a58c6514545df6a868f50f2247047ae9c9156c',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '8b97972ba3323bfd5e449c4a318d3bf38361a7f419d64a03933bf77e460d1fbf',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'mlx', 'fp32'): {
        'weights': 'bf0a47ea5c98bf33be8330a5d4d9515345dd5c1fcdfcc491ff00dbe001882c2d',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '6e7d1c83750acb91d357b7bd753d332544d7ecd922df40f586021e3fa862b904',
    },
    ('hubert/hubert_tiny.pt', 'ios', 'default'): {
        'weights': 'ae520c7953225fa78e7485f30812a66d53e4cee94469ff5b56c4f96de7abdf92',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '06ffb706689a4841878826153cee7ba4bba859f11eb39d0c6b71f09cfefbdb1d',
    },
    ('hubert/hubert_tiny.pt', 'ios', 'fp32'): {
        'weights': '549efc8cd30a8346e5637b9ffc2ac4eaf8f04f49f41f41636d68fe6d2138e3a6',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '1b531833f098cbd0e769b3c27f3e4153b69d5889bba85c5063bb5be8a765a6ea',
    },
    ('hubert/hubert_tiny.pt', 'mlx', 'default'): {
        'weights': '0593b7dae19d982f5f51ac909ef4962bb998c420c896e74d6e36c63f49411e36',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '67220cc94af7ca8921208f832a2859361ddc2ff4f0b3fc1dcea05b756a2f693c',
    },
    ('hubert/hubert_tiny.pt', 'mlx', 'fp32'): {
        'weights': 'a311d8395e68023850797d1d0fb15051b9a0b3e6ecd551676d0cbaf68f1419aa',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': 'd9f07533f45fb055308bfca98d2fe4e3633a2cbcadc80fcb7c763bff49a92c1f',
    },
    ('hubert/contentvec_tiny_hf', 'ios', 'default'): {
        'weights': '547e44d71452cccd86928847930b303d573233a2b86d89d59202215db4f75728',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': '78abf0fbb174814b0e39a6447e8de747cf3599e759a451705a24761e38c292ec',
    },
    ('hubert/contentvec_tiny_hf', 'ios', 'fp32'): {
        'weights': '547e44d71452cccd86928847930b303d573233a2b86d89d59202215db4f75728',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': '78abf0fbb174814b0e39a6447e8de747cf3599e759a451705a24761e38c292ec',
    },
    ('hubert/contentvec_tiny_hf', 'mlx', 'default'): {
        'weights': 'dcb54eaa11b3ead6e58a231736de6403d3acf663a576ea5ece2620436a7c91e0',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': 'd255de95c8ec050c5a54b89f5e5bbf50a67b6cc24e792cb93cce0cabc003f54e',
    },
    ('hubert/contentvec_tiny_hf', 'mlx', 'fp32'): {
        'weights': 'dcb54eaa11b3ead6e58a231736de6403d3acf663a576ea5ece2620436a7c91e0',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': 'd255de95c8ec050c5a54b89f5e5bbf50a67b6cc24e792cb93cce0cabc003f54e',
    },
    ('rmvpe/rmvpe_small.pt', 'ios', 'default'): {
        'weights': 'ac9cc0997c8bf37261b737fe3ee198ea5221c05ed34cd221338001f50022dab3',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '7bbaabee69850156e8b36a66a8d0b9b4cefb84cfad1804930f894dc27dc29f7f',
    },
    ('rmvpe/rmvpe_small.pt', 'ios', 'fp32'): {
        'weights': 'ffb69f2d74e1f3106f7e32114e0e194d22ec435920a7112be9691165b55fa47a',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '30d12c2f6b3f88a7422054c5c889ce718d8e590692d3ad5f3a61865f41d67e88',
    },
    ('rmvpe/rmvpe_small.pt', 'mlx', 'default'): {
        'weights': '3c8fe9b9d407a4737cd0f72577ed7298b4922d4d176e9ba6d5bbdc421b7ef450',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '63063f36d41f5122a7d609b8dc4b5db7c1e10355bff182531061505cae36c65a',
    },
    ('rmvpe/rmvpe_small.pt', 'mlx', 'fp32'): {
        'weights': '652819f55f14c81d4f49748c57fbbaba289968d13ea4f35ba129d5c1f0611ee5',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '1ec9e1c22749da1a893e6ef9a0e682eef8ebe9840626ad1cad8460184a90d0fa',
    },
    ('synth/models/v2-40k-f0.pth', 'ios', 'default'): {
        'weights': '278e73fc58ea37cf89984d6460e357a29ff3f327b7da11235efc93a0cd8c283e',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '694e46e3fed3399ac709635bfa31d07646be3d3eeb7fa817cb2fc1dae4b4d11a',
    },
    ('synth/models/v2-40k-f0.pth', 'ios', 'fp32'): {
        'weights': 'bbacdfcfb2c1c380da95ce3f8b29f2903b4d9faa937ae101936d0c910d7fa52e',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '427ca32f0b00430c7d6e0d4e733b1d945d57fb3979e7b11fb4d4c34439408c58',
    },
    ('synth/models/v2-40k-f0.pth', 'mlx', 'default'): {
        'weights': '7f85f3589601f62f1364ddf8c043e4c15c5298855dad845539b6000bbdd0e8fd',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '43923ecd8c08c593c2217985a2f2373551a787a909f4b94fd9efd3d46d7907fc',
    },
    ('synth/models/v2-40k-f0.pth', 'mlx', 'fp32'): {
        'weights': '10d40a094ad5a8f95934793b976a85d79e29c716f740ae0c2f4fc88efcd339f5',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '70cc8358128a66e3e5847d3b54205211f3792c08652cb3eb9f2c6e8bde0412df',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'ios', 'default'): {
        'weights': '5d366232b4ceef91093e492e773e51cae9c433d17217e87865deea932ccc2ec7',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '082dcb7d405c571009b01782533a11d3418cf04975dcc28c8a91b3db8ae9afbf',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'ios', 'fp32'): {
        'weights': '534528f383f19da97cffe411bc8dcb970b5c969f9a3855236ce1910878e06742',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '7fadaeff71d5a96bae5d7ae28afca806ec97687240a6138e73aae390d1edaff1',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'mlx', 'default'): {
        'weights': 'f08354182330428fd0add0ed5d76d05c3414ff9a13b736dfc96706c8982f0fb5',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '6696131fcf9f7070fadf081b601f27a8339969427e9cb3ee1e90e7340c650ff1',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'mlx', 'fp32'): {
        'weights': '806654b093197b56dd0b219dda051be1df990df10e37bbb10cf22059ff31526c',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '08ea01b700369cf7e1334df4a1b065cfe11a8563edf9e0b48747f750eec42bd0',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'ios', 'default'): {
        'weights': '18ce53ff24e77deaa7286e84e3f8e15b2dfa456d65c66e5a41081ac4344b44c8',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'cbfb1187194b1c4b8fc93875d4cc397d3d96a3d39c0cd76b42eb0729411fa230',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'ios', 'fp32'): {
        'weights': 'd3b09f70475149e8f8b7b8b47cfa90770a7a0696cf593b197e5e98df6ff4c13d',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e3c4052d99e66b2efa94256cec5ffa2746d9c6899083d454112dfdcbfc979928',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'mlx', 'default'): {
        'weights': '8c5f06422cd85e863f001f9e314e04ecac6235618f8dbec34b0071f6b62408f6',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'b227db0c698f206e7a275bae14803032e25d771146abfa27209dffe2ddd8aa91',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'adfb56227f1351ec2ccce640494321bcbe5598d45ba2ca285cce9bdcea042d72',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '3f4cee16272379f2197c69ddbedd5476afbd0bd10f78a19039bb5000897c712b',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'ios', 'default'): {
        'weights': 'eb53d1cdfabc780f90e88d83914c6cae117dc6b0111713d3104f3afc56315efd',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '2490321c3478dcfa0db9716a1b156a91fbb3254f4880a6ebb9dd4cf25106e16e',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'ios', 'fp32'): {
        'weights': 'eb914e737a086758f0e432e9474d4f595d085bbfd0e4a37ec06983a457c2749d',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '1b92b35ba2473a815923c09a6ececd570f0e8c4126043f1d33a2023e90727113',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'mlx', 'default'): {
        'weights': '88ea7bf7cc00fc4e34db6c55e34cf9ed888ee38e1b9ea170eb6c5145cbcb8879',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '4fe1a009f590c82a16c8d4043ea4bd77fee36edaa77d828dfa452de5cadc011f',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'mlx', 'fp32'): {
        'weights': '2cfd7be5b28003f07f79b5bca38f011abf07d594dbc103d473973cb35d229cad',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '169c57920d953c7b928dd9cecc069b00b6cce56671d45c43715665d59c5cecd7',
    },
    ('pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index', 'ios', 'default'): {
        'weights': 'd7d586dd5c39305aa9436f019edb29ae48d3066c56b969dfc768c35dc47c72bc',
        'config': '1d0d2c6a521bfcf03bbd01bb4c6201f5fe766d9282d5cf8ad27752d9b3aa8efd',
        'weights_sans_rules': '243b90766657b58ed9cfc653c2209a1bc3cff22f905b80fe349bfc4ea6013f93',
    },
    ('pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index', 'ios', 'fp32'): {
        'weights': 'd7d586dd5c39305aa9436f019edb29ae48d3066c56b969dfc768c35dc47c72bc',
        'config': '1d0d2c6a521bfcf03bbd01bb4c6201f5fe766d9282d5cf8ad27752d9b3aa8efd',
        'weights_sans_rules': '243b90766657b58ed9cfc653c2209a1bc3cff22f905b80fe349bfc4ea6013f93',
    },
    ('pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index', 'mlx', 'default'): {
        'weights': '0df7eac18ba026b2882b7e57d4b5bc326533676a038d3d1af0bc335cdbb52cb3',
        'config': '1d0d2c6a521bfcf03bbd01bb4c6201f5fe766d9282d5cf8ad27752d9b3aa8efd',
        'weights_sans_rules': '2c2f3e50d278a616645cc962f042318c664b149513bacbb44f8d422dbf778b60',
    },
    ('pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index', 'mlx', 'fp32'): {
        'weights': '0df7eac18ba026b2882b7e57d4b5bc326533676a038d3d1af0bc335cdbb52cb3',
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
