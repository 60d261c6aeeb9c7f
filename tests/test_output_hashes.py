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
# hash changed, `weights_sans_rules` and every config sidecar stayed identical.
# The digest of the HASHES table each revision recorded: re-recording the table without a new
# revision (or bumping without re-recording) fails test_the_revision_names_this_table.
TABLE_DIGESTS = {
    1: "09963ad47bb407d16e13dcf0fd427fefada76cd3ba7c45476cd765175889736a",
    2: "cca946bfd99e88568b3a2a2ad12416504948ad4f8e7009ab86f1703347da7c7a",
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
)
TARGETS = ("ios", "mlx")
DTYPES = (None, "fp32")  # None: the source's own (fp16 for exports)

# (model, target, dtype) -> sha256 of the weights file, of the config sidecar, and of the weights
# file with its rules hash blanked.
HASHES: dict[tuple[str, str, str], dict[str, str]] = {
    ('synth/models/v1-40k-f0-tiny.pth', 'ios', 'default'): {
        'weights': 'b8e7ba1d075d1c601642d9f151137733958930feb87bd4784e9b2b8a8d7e3366',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '74d2448cc474c6c3ac51389b61e93b2a2bf320125bdbe5fc52a1a1e6e21e5568',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'ios', 'fp32'): {
        'weights': '46796217e9a324fa2c4609b3273f2e2a76381e0a20d24223f684f0bcdc180ade',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '24f6d84a21061e415b660f9d4495f0d71851de9fb091d9ed4cff832ce087c8d5',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'mlx', 'default'): {
        'weights': '197ad83172497a743e1d77e9c6de7da3f81199ecd2e94d863c749ae92eac05b8',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '51e4034202117e6d05f57244f512c51ec66312ef9c9ecfaef0cd276855ae169c',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'e8773fcb5fe8a812915ec6d4c492183be7c8d129add3d301790e7f70322baa44',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': 'df0b514768df70b0efa207a4ea52146da71fbd4f09271e549a2bedd36b1855fa',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'ios', 'default'): {
        'weights': 'b24d9f7bc417920f401bb2a8a3d4bbf5a03e764f94af33a97d0f4ef061d07a7b',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '66a5b4a47c0b9e646eff95cb38f95e8f10d895679b646b17fd5f1983cc7fdc06',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'ios', 'fp32'): {
        'weights': '39303f899c1faaf964cdb8c793cd68ad800ee44e172e55fba162260e5d00d75a',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'eb6afdd47dc9a1a50a569176b9de77e8453195d290ccc31c4678939575a523e7',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'mlx', 'default'): {
        'weights': 'e5ef03f1f65e56c338f41e6decf68403c7e16d91c8c58b5cbe324cad1089e196',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'a08b19c57958d87123ae9a682c9d2744c4e100b50d97b38dd51c1f8f0e28116a',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'mlx', 'fp32'): {
        'weights': '2142cc964e0fead49e0ad0b3de101736597779a49b755aafed8fad2dbdf653d0',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'c5d802eb9c7a66b23d05061e57ac784fb588ed99a696de6df8159168d0948eed',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'ios', 'default'): {
        'weights': 'd06e5bea6c0a2ced1bc689cdda74d0a45aa7460ae19398ccc88182ecf4da57cb',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '0d78443856ba239a1b49e35b9437814a9322eb36402fc4ef0fbe6c1731f544a2',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'ios', 'fp32'): {
        'weights': 'e2d195318569ead5050c13f9c60ca7b8bfc391d1f63dd66421dd7631ca57343b',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '095dd236c67ff7f0581b192eabbaa2e2185085d2850e84faf6aac2e530aa0b76',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'mlx', 'default'): {
        'weights': 'e1393af579248194e81ca6c166efa31af886f2579176a81e92765ee7d9d371cc',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': 'fec1db461d03b13dedb68a72cbf6804943eb46c460e896c13d9c8c9c3c31eb37',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'mlx', 'fp32'): {
        'weights': '50dabced97b28545db185040442256a27aafdcce10e67cdeabbfe0a758225802',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '1696a76c4967abf32e0b95281e9effff59d756bc3553e3279d8d05d348fefdb6',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'ios', 'default'): {
        'weights': '2a73a031d8d1c120b1ed130a0cb99caebc4cd4f4bef6264327450ff1e53b6540',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '47fdbb8a73e705e7f4d099160dd2982fa29a0311a420ec13aec2a500fee33b7c',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'ios', 'fp32'): {
        'weights': '1eb9a74195ed2b8dfba58db27f3901c49de13fbb4eb1e5c762d51c1d050bfea4',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': 'f0253e107e9ddb0df152bc72511a153347c61ebd2068e0682b3c56f8c488b5d2',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'mlx', 'default'): {
        'weights': '34aad4414451c97626b6b48fb2f1a0af53c77e0585d73812ea64eefb9ef3fd4e',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '440dcd8be2e223e5c58a301f2135b5b29fe1441ec29dd26f31ab8d5411ed6f8d',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'b95b22c59fe2419cad69acb388b2c1396da5183df96fcac89285dbf81aaf7e12',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '31719d2add446401e4e6b80a6d05854a93ecbad3705c52f9c3e31a649b2ba32f',
    },
    ('synth/extra/G_2333333.pth', 'ios', 'default'): {
        'weights': '09ea4f7a47e5da819a02ec06fc2c2bb8928478ae7ed0b4e0a1958390d2c0b1e9',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e8c300fdd53b73c71aed65bb810dedfbf7e4fe542e42aa85e87a32a83bac2a1a',
    },
    ('synth/extra/G_2333333.pth', 'ios', 'fp32'): {
        'weights': '09ea4f7a47e5da819a02ec06fc2c2bb8928478ae7ed0b4e0a1958390d2c0b1e9',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e8c300fdd53b73c71aed65bb810dedfbf7e4fe542e42aa85e87a32a83bac2a1a',
    },
    ('synth/extra/G_2333333.pth', 'mlx', 'default'): {
        'weights': '9002eb963f91c3e281bc8f956a219617f5eba702ea95f3ddbdf903104d185436',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '086f3ea1855ddd1d3a42e5f5f55952b0b835529495f48262964e146717288d77',
    },
    ('synth/extra/G_2333333.pth', 'mlx', 'fp32'): {
        'weights': '9002eb963f91c3e281bc8f956a219617f5eba702ea95f3ddbdf903104d185436',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '086f3ea1855ddd1d3a42e5f5f55952b0b835529495f48262964e146717288d77',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'ios', 'default'): {
        'weights': '10486d8f030126f544e5754560d026394b8df51ad96f77105bc0f74c1b2dda2d',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '5b6c9d2c7a561de8d6aa2997ad11a353b2dc03eac2b20972fdb95b7dd1c8e601',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'ios', 'fp32'): {
        'weights': 'e1a0b2444f7f816f2f304d7333ec02c063a4537d175b813f1f70e1a9bff88c2d',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '12d9226add592b140b397972f9ae3c12b06394e2bd08ef9258ec932ab4058ac6',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'mlx', 'default'): {
        'weights': '574c9b63757ab1edef1ff7d98c27873371903c8209e26d58e6151e706c069709',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'f1a7ae5cd9a2213a43af51c82da9f86489fce8227bcdf04ea4cd8815d6b1c272',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'mlx', 'fp32'): {
        'weights': '589060547b42a419d4399247fba6cc6395777fe9f4c82eaa7ae93cf836f5143d',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '670af7bdee4c2aa75ff8bd6b86251f688cc9b556e80587ad216f755f85fa6e50',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'ios', 'default'): {
        'weights': '62da0d067ca93ac4f11a78412be8df729b8579e6632417ddc8ed118bd5e6ed7a',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '545de3bb53439c27c9cd9a4aa461692a9f4551247e5268ec4a89808e768409e4',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'ios', 'fp32'): {
        'weights': '575609bc2d7ef00b58fe6acbeacdb2367029e419f76aeecf3f8005714c06eeb5',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '14602179e60c64aca430c4b4a1106e40cbf1ca7f5c99bdec82ce8adda1cb2f26',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'mlx', 'default'): {
        'weights': '98d096fccaf6258a235c89ae2394723c1f142e2b7bc3e536fbabbbff46b37e9a',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '8b97972ba3323bfd5e449c4a318d3bf38361a7f419d64a03933bf77e460d1fbf',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'mlx', 'fp32'): {
        'weights': '2b4f7a7cb65db931d181e745a1914da66e9ba67719141d86008edd874bccaad6',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '6e7d1c83750acb91d357b7bd753d332544d7ecd922df40f586021e3fa862b904',
    },
    ('hubert/hubert_tiny.pt', 'ios', 'default'): {
        'weights': '7cb2a2314716d9f2b6948be8f7a91000106ab1b502a77f9bdef48926d9d31737',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '06ffb706689a4841878826153cee7ba4bba859f11eb39d0c6b71f09cfefbdb1d',
    },
    ('hubert/hubert_tiny.pt', 'ios', 'fp32'): {
        'weights': '6bae2f1e7096b3e19f25ecd9b4d92c962e4e83db2f0ea11398c8f59e56c60be0',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '1b531833f098cbd0e769b3c27f3e4153b69d5889bba85c5063bb5be8a765a6ea',
    },
    ('hubert/hubert_tiny.pt', 'mlx', 'default'): {
        'weights': '4f89e608fdf3e6363d049de7e0cd88be211301c35c30a19bb0442f915a016cff',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '67220cc94af7ca8921208f832a2859361ddc2ff4f0b3fc1dcea05b756a2f693c',
    },
    ('hubert/hubert_tiny.pt', 'mlx', 'fp32'): {
        'weights': 'a810d7e66d9278f8537743575acbdf5900cd72f3e700ac8a6b42b1b29751b48f',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': 'd9f07533f45fb055308bfca98d2fe4e3633a2cbcadc80fcb7c763bff49a92c1f',
    },
    ('hubert/contentvec_tiny_hf', 'ios', 'default'): {
        'weights': '4bc0f6903ed607cd74e933f90e628c624e904a893e57cebd2b549880a4eaea4f',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': '78abf0fbb174814b0e39a6447e8de747cf3599e759a451705a24761e38c292ec',
    },
    ('hubert/contentvec_tiny_hf', 'ios', 'fp32'): {
        'weights': '4bc0f6903ed607cd74e933f90e628c624e904a893e57cebd2b549880a4eaea4f',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': '78abf0fbb174814b0e39a6447e8de747cf3599e759a451705a24761e38c292ec',
    },
    ('hubert/contentvec_tiny_hf', 'mlx', 'default'): {
        'weights': '45ca2b6eec2b78f3eb8a9ae102919ad1c338924985a5ddb887fc085c05d1b167',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': 'd255de95c8ec050c5a54b89f5e5bbf50a67b6cc24e792cb93cce0cabc003f54e',
    },
    ('hubert/contentvec_tiny_hf', 'mlx', 'fp32'): {
        'weights': '45ca2b6eec2b78f3eb8a9ae102919ad1c338924985a5ddb887fc085c05d1b167',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': 'd255de95c8ec050c5a54b89f5e5bbf50a67b6cc24e792cb93cce0cabc003f54e',
    },
    ('rmvpe/rmvpe_small.pt', 'ios', 'default'): {
        'weights': 'dd2b07c7f0a52c6e1fd156e71138cd0f7a657a31ed1db6fd9e7aca8ef87003c5',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '7bbaabee69850156e8b36a66a8d0b9b4cefb84cfad1804930f894dc27dc29f7f',
    },
    ('rmvpe/rmvpe_small.pt', 'ios', 'fp32'): {
        'weights': '7b1fa82e78a7cddedd514f0247ae1de76f48994f6927bbb294d062a363d144d8',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '30d12c2f6b3f88a7422054c5c889ce718d8e590692d3ad5f3a61865f41d67e88',
    },
    ('rmvpe/rmvpe_small.pt', 'mlx', 'default'): {
        'weights': '958c54f77d59a650185b07e82e855badc6ad4af7d67c2887f8a09c81d68e7392',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '63063f36d41f5122a7d609b8dc4b5db7c1e10355bff182531061505cae36c65a',
    },
    ('rmvpe/rmvpe_small.pt', 'mlx', 'fp32'): {
        'weights': '0e30528e1e4e36e6da23bb4774238c062cc374ac91b0381842ffc09e6cf2458f',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '1ec9e1c22749da1a893e6ef9a0e682eef8ebe9840626ad1cad8460184a90d0fa',
    },
    ('synth/models/v2-40k-f0.pth', 'ios', 'default'): {
        'weights': '6e3fb7eb3ce81fedaadb833a0323ea3c9cd82d35e6c86e9a9cb4355d54f2e21a',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '694e46e3fed3399ac709635bfa31d07646be3d3eeb7fa817cb2fc1dae4b4d11a',
    },
    ('synth/models/v2-40k-f0.pth', 'ios', 'fp32'): {
        'weights': '66ae71ab06097415104a96987dca8a5354cb77da88a45f8b8681f84da1d23954',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '427ca32f0b00430c7d6e0d4e733b1d945d57fb3979e7b11fb4d4c34439408c58',
    },
    ('synth/models/v2-40k-f0.pth', 'mlx', 'default'): {
        'weights': 'f4da6b632e8e9213d6381190c7aa6b23c6cb5e79a81f8c666f2313610f042446',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '43923ecd8c08c593c2217985a2f2373551a787a909f4b94fd9efd3d46d7907fc',
    },
    ('synth/models/v2-40k-f0.pth', 'mlx', 'fp32'): {
        'weights': 'e4c10b5239218234847cdd0fa65643c06f8daae4d816e6295c0ec627d0b13d74',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '70cc8358128a66e3e5847d3b54205211f3792c08652cb3eb9f2c6e8bde0412df',
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
