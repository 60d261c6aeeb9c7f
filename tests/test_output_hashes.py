"""Converted bytes are pinned: every golden model, both targets, the default dtype and fp32, hashed.

A refactor must leave every output byte-identical. A change that alters output on purpose bumps
OUTPUT_FORMAT_REVISION and re-records the table (`python tests/test_output_hashes.py` prints it);
bundles key their reuse on the revision, so changed bytes without a bump fail here.

`weights_sans_rules` hashes the weights file with the recorded rules hash (64 hex digits in the
metadata) blanked: rule-pack edits that change no tensor (comments, declarations) change
`weights` and the revision, never `weights_sans_rules`.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
if str(_TESTS) not in sys.path:  # run as a script: `python tests/test_output_hashes.py`
    sys.path.insert(0, str(_TESTS))

from golden import find_golden  # noqa: E402
from outputs import output_metadata  # noqa: E402

OUTPUT_FORMAT_REVISION = 1

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
        'weights': 'd6ea72254726f184667988f301c747f764da958bdc88ebe726708109b40b8c11',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '74d2448cc474c6c3ac51389b61e93b2a2bf320125bdbe5fc52a1a1e6e21e5568',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'ios', 'fp32'): {
        'weights': '25a76834ebda3717a63e82641325b1b0dcd392219c21abad7c52e48e335e1174',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '24f6d84a21061e415b660f9d4495f0d71851de9fb091d9ed4cff832ce087c8d5',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'mlx', 'default'): {
        'weights': 'f5635b53d45c5aac298415c931d5bda725754d1f8e4469c72e3ec3af86f200dd',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '51e4034202117e6d05f57244f512c51ec66312ef9c9ecfaef0cd276855ae169c',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'eb84ebe27b159fe21d82d003b5d23d602f32b047d49a797d8bace0b7a9bfa513',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': 'df0b514768df70b0efa207a4ea52146da71fbd4f09271e549a2bedd36b1855fa',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'ios', 'default'): {
        'weights': '4d02f490ae2792cd1994a1cfb2242e49badfa4f79d2eac7e2ce2df15033cf040',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '66a5b4a47c0b9e646eff95cb38f95e8f10d895679b646b17fd5f1983cc7fdc06',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'ios', 'fp32'): {
        'weights': '59cae585afde03e84f5586cc2c7a705736b99a8a7c936dc768e1d7aa5bba0fb7',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'eb6afdd47dc9a1a50a569176b9de77e8453195d290ccc31c4678939575a523e7',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'mlx', 'default'): {
        'weights': '76076b7d8b39b16fb3d8ffb922b9e6fb6ad7f1dbc531cc1227dcdf41c6e86c46',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'a08b19c57958d87123ae9a682c9d2744c4e100b50d97b38dd51c1f8f0e28116a',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'b2c0e3160f583e0dab5fc5a4c5c07bfa8afbbfb28f016a65c88bc8f324b78b8c',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'c5d802eb9c7a66b23d05061e57ac784fb588ed99a696de6df8159168d0948eed',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'ios', 'default'): {
        'weights': '0cc9508c6974fca099b81b93a016f50991579247636b6bd4ae5f0da1eb80b66c',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '0d78443856ba239a1b49e35b9437814a9322eb36402fc4ef0fbe6c1731f544a2',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'ios', 'fp32'): {
        'weights': 'faeafed7f37d58f8aeb2b06d373b417115de123857b323c61328ede3fb9ffb17',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '095dd236c67ff7f0581b192eabbaa2e2185085d2850e84faf6aac2e530aa0b76',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'mlx', 'default'): {
        'weights': '348b839a833340ffe5f9dae940481572129a10ab1038d05b9d85b1eb2919c560',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': 'fec1db461d03b13dedb68a72cbf6804943eb46c460e896c13d9c8c9c3c31eb37',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'f06a37255e79c155fcfab0ccf0d3390a040bbbf4793175ed168f24214c09d84e',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '1696a76c4967abf32e0b95281e9effff59d756bc3553e3279d8d05d348fefdb6',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'ios', 'default'): {
        'weights': '10b0306177196b8f53db08c23c5204344221aa09b9a9d35d2264288f0e6bedff',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '47fdbb8a73e705e7f4d099160dd2982fa29a0311a420ec13aec2a500fee33b7c',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'ios', 'fp32'): {
        'weights': '29398628ae60d99179f03932d310d14d834b7749ff609d548938af6ff92e5bea',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': 'f0253e107e9ddb0df152bc72511a153347c61ebd2068e0682b3c56f8c488b5d2',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'mlx', 'default'): {
        'weights': 'df8765043ccbfbb72131f97407a520b5e543c7740e5d56efaf4d6f84e49f1ec9',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '440dcd8be2e223e5c58a301f2135b5b29fe1441ec29dd26f31ab8d5411ed6f8d',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'f38cbba2aefd6a0df88098e81cd7428626eda5039fd8ed73de62f306d48f8593',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '31719d2add446401e4e6b80a6d05854a93ecbad3705c52f9c3e31a649b2ba32f',
    },
    ('synth/extra/G_2333333.pth', 'ios', 'default'): {
        'weights': '5cd5c042f2dedd946180d3000bfdf7753a4846fa22fda5a3a06299f7d89ab9b8',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e8c300fdd53b73c71aed65bb810dedfbf7e4fe542e42aa85e87a32a83bac2a1a',
    },
    ('synth/extra/G_2333333.pth', 'ios', 'fp32'): {
        'weights': '5cd5c042f2dedd946180d3000bfdf7753a4846fa22fda5a3a06299f7d89ab9b8',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e8c300fdd53b73c71aed65bb810dedfbf7e4fe542e42aa85e87a32a83bac2a1a',
    },
    ('synth/extra/G_2333333.pth', 'mlx', 'default'): {
        'weights': '285deccb9a1fcecc69c98316fc72f0da78093bec3427643df295fb4600f39506',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '086f3ea1855ddd1d3a42e5f5f55952b0b835529495f48262964e146717288d77',
    },
    ('synth/extra/G_2333333.pth', 'mlx', 'fp32'): {
        'weights': '285deccb9a1fcecc69c98316fc72f0da78093bec3427643df295fb4600f39506',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '086f3ea1855ddd1d3a42e5f5f55952b0b835529495f48262964e146717288d77',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'ios', 'default'): {
        'weights': 'f7f48f792da211815c79df45b0c45077ac68f3bb32fd8a4e56b42b53cb029b74',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '5b6c9d2c7a561de8d6aa2997ad11a353b2dc03eac2b20972fdb95b7dd1c8e601',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'ios', 'fp32'): {
        'weights': '37eea061bdd0b7238e270927824b83f22f34dd33c56d8b77d0168304f3b7c282',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '12d9226add592b140b397972f9ae3c12b06394e2bd08ef9258ec932ab4058ac6',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'mlx', 'default'): {
        'weights': '1fa62019e50050e9d0305cc27dcbe0118dbeaff4b5a403cd9e53197cbbc55a5d',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'f1a7ae5cd9a2213a43af51c82da9f86489fce8227bcdf04ea4cd8815d6b1c272',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'mlx', 'fp32'): {
        'weights': '76f2895a13b38ed6128598fba1940f51eb6c0db3832887cf8911ff9636dc7b04',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '670af7bdee4c2aa75ff8bd6b86251f688cc9b556e80587ad216f755f85fa6e50',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'ios', 'default'): {
        'weights': '292d5a007c3fd7204d6743f2400f6b07d9d35438bfdd8ad2a6440416874113f3',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '545de3bb53439c27c9cd9a4aa461692a9f4551247e5268ec4a89808e768409e4',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'ios', 'fp32'): {
        'weights': '37f22186733a3798f716a57cff12e8938febbffdcfab7dd85212d1ed7d230347',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '14602179e60c64aca430c4b4a1106e40cbf1ca7f5c99bdec82ce8adda1cb2f26',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'mlx', 'default'): {
        'weights': '04fcc6ea64cf0da289ea60fac07b4bf3fb43b8524d807f1ff3b9c389ab27f64b',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '8b97972ba3323bfd5e449c4a318d3bf38361a7f419d64a03933bf77e460d1fbf',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'mlx', 'fp32'): {
        'weights': '44bc79d00e8737d21e5ea8a86e208c3a5677a6cac4d737c6c5c5ef67f384dfa8',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '6e7d1c83750acb91d357b7bd753d332544d7ecd922df40f586021e3fa862b904',
    },
    ('hubert/hubert_tiny.pt', 'ios', 'default'): {
        'weights': '633bd841ee43a364d41df484a451581aa30c070e93347abc96692550a3a76eec',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '06ffb706689a4841878826153cee7ba4bba859f11eb39d0c6b71f09cfefbdb1d',
    },
    ('hubert/hubert_tiny.pt', 'ios', 'fp32'): {
        'weights': '97a6b2fc7361ae5a15bc179dafb0230de76853cedf74849e57d6b4b1ea12da47',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '1b531833f098cbd0e769b3c27f3e4153b69d5889bba85c5063bb5be8a765a6ea',
    },
    ('hubert/hubert_tiny.pt', 'mlx', 'default'): {
        'weights': '9f7d63f5b2670b992bb9c9d81500ca058f2ed0d1b83c9f23c9c8f8601379074f',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '67220cc94af7ca8921208f832a2859361ddc2ff4f0b3fc1dcea05b756a2f693c',
    },
    ('hubert/hubert_tiny.pt', 'mlx', 'fp32'): {
        'weights': 'c9cc44b4f1f730b3c830dbe37516fc206a21e64639b55e3e8a1c5d27a0a68487',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': 'd9f07533f45fb055308bfca98d2fe4e3633a2cbcadc80fcb7c763bff49a92c1f',
    },
    ('hubert/contentvec_tiny_hf', 'ios', 'default'): {
        'weights': 'f0f4dbb18fa947c5cb5859d8ec850698626bec95dc3d81c7f54b6e95e2450023',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': '78abf0fbb174814b0e39a6447e8de747cf3599e759a451705a24761e38c292ec',
    },
    ('hubert/contentvec_tiny_hf', 'ios', 'fp32'): {
        'weights': 'f0f4dbb18fa947c5cb5859d8ec850698626bec95dc3d81c7f54b6e95e2450023',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': '78abf0fbb174814b0e39a6447e8de747cf3599e759a451705a24761e38c292ec',
    },
    ('hubert/contentvec_tiny_hf', 'mlx', 'default'): {
        'weights': 'd58747ac52960805387490d82c890df13b96242622fefdafcb34e6191ab38d72',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': 'd255de95c8ec050c5a54b89f5e5bbf50a67b6cc24e792cb93cce0cabc003f54e',
    },
    ('hubert/contentvec_tiny_hf', 'mlx', 'fp32'): {
        'weights': 'd58747ac52960805387490d82c890df13b96242622fefdafcb34e6191ab38d72',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': 'd255de95c8ec050c5a54b89f5e5bbf50a67b6cc24e792cb93cce0cabc003f54e',
    },
    ('rmvpe/rmvpe_small.pt', 'ios', 'default'): {
        'weights': '71e1bcf0e547dbb727e8646bc80f45bf751ae6a5efafa9681719347e73b45987',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '7bbaabee69850156e8b36a66a8d0b9b4cefb84cfad1804930f894dc27dc29f7f',
    },
    ('rmvpe/rmvpe_small.pt', 'ios', 'fp32'): {
        'weights': 'b58cdb9b7bdd6ad00017d517a972db4196d90ec661e7b00b1c8a9f040e66bcd7',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '30d12c2f6b3f88a7422054c5c889ce718d8e590692d3ad5f3a61865f41d67e88',
    },
    ('rmvpe/rmvpe_small.pt', 'mlx', 'default'): {
        'weights': '415a8c65e5a7c80f095e777ca75224f9d784f886927d633c75bfb5e8e8c1f4df',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '63063f36d41f5122a7d609b8dc4b5db7c1e10355bff182531061505cae36c65a',
    },
    ('rmvpe/rmvpe_small.pt', 'mlx', 'fp32'): {
        'weights': 'e0325591fda2c7c587982b6b2fe079368867dcdda34d754ef102180a45cc6df4',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '1ec9e1c22749da1a893e6ef9a0e682eef8ebe9840626ad1cad8460184a90d0fa',
    },
    ('synth/models/v2-40k-f0.pth', 'ios', 'default'): {
        'weights': 'a107e071deb28d100967f0d995045ce2eece0b4be53a412575e58c228867a889',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '694e46e3fed3399ac709635bfa31d07646be3d3eeb7fa817cb2fc1dae4b4d11a',
    },
    ('synth/models/v2-40k-f0.pth', 'ios', 'fp32'): {
        'weights': '372416dbf8ee428be938c8c7b8119f684b7205436a58a1b33740eab6354c07ab',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '427ca32f0b00430c7d6e0d4e733b1d945d57fb3979e7b11fb4d4c34439408c58',
    },
    ('synth/models/v2-40k-f0.pth', 'mlx', 'default'): {
        'weights': '24ef67a2e9826dee0475c2826a0a54ea6afeff8073d39008eda4db6f205dbbde',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '43923ecd8c08c593c2217985a2f2373551a787a909f4b94fd9efd3d46d7907fc',
    },
    ('synth/models/v2-40k-f0.pth', 'mlx', 'fp32'): {
        'weights': '224ebdcb77d6bd0532fd579f1e8f4af953dc9de8f82bdf63ba1df4aa62b569c5',
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


def test_every_case_is_recorded():
    """The table covers exactly the cases above: a model added to the list needs its hashes."""
    assert set(HASHES) == set(_cases())


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        print("HASHES: dict[tuple[str, str, str], dict[str, str]] = {")
        for index, (model, target, dtype) in enumerate(_cases()):
            found = convert_and_hash(model, target, None if dtype == "default" else dtype, Path(scratch) / str(index))
            print(f"    ({model!r}, {target!r}, {dtype!r}): {{")
            for key, value in found.items():
                print(f"        {key!r}: {value!r},")
            print("    },")
        print("}")
