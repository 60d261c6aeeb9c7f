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
# The digest of the HASHES table each revision recorded: re-recording the table without a new
# revision (or bumping without re-recording) fails test_the_revision_names_this_table.
TABLE_DIGESTS = {
    1: "09963ad47bb407d16e13dcf0fd427fefada76cd3ba7c45476cd765175889736a",
    2: "cca946bfd99e88568b3a2a2ad12416504948ad4f8e7009ab86f1703347da7c7a",
    3: "6c28eafe0d58978b228701d7b53ab827b5abc1f7374be46bb654a93a14cfecdb",
    4: "fc9fd0332c7dc4cbe548711a8a9f4a159ae869dbf05b4bad8b599629846f3310",
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
)
TARGETS = ("ios", "mlx")
DTYPES = (None, "fp32")  # None: the source's own (fp16 for exports)

# (model, target, dtype) -> sha256 of the weights file, of the config sidecar, and of the weights
# file with its rules hash blanked.
HASHES: dict[tuple[str, str, str], dict[str, str]] = {
    ('synth/models/v1-40k-f0-tiny.pth', 'ios', 'default'): {
        'weights': '5ff6aa194c668f31a99042c8f90d54b89dff84eecc2d72ffbb8fec612b52ea03',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '74d2448cc474c6c3ac51389b61e93b2a2bf320125bdbe5fc52a1a1e6e21e5568',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'ios', 'fp32'): {
        'weights': 'd10f2996155cc22ddb9eff7de917fc27802d652159ba964020aaec4f5e9aab24',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '24f6d84a21061e415b660f9d4495f0d71851de9fb091d9ed4cff832ce087c8d5',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'mlx', 'default'): {
        'weights': '9c347e33aa9e950594cd11ea89a8fd7a56820acc0111e4058babb99ebc82723f',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '51e4034202117e6d05f57244f512c51ec66312ef9c9ecfaef0cd276855ae169c',
    },
    ('synth/models/v1-40k-f0-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'e26d1e3d5a3d5c2c33c7bf33bc1c669e22e6e833c23abc762e2adc6b1b53373d',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': 'df0b514768df70b0efa207a4ea52146da71fbd4f09271e549a2bedd36b1855fa',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'ios', 'default'): {
        'weights': '633590a0dd67867c14e3d9fc7563d654ecf72c0d887c5e699c92433abf6a680a',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '66a5b4a47c0b9e646eff95cb38f95e8f10d895679b646b17fd5f1983cc7fdc06',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'ios', 'fp32'): {
        'weights': 'c1c74d013f5c2a52651f3471513c8e6ed5baacb78a459407a2ced05371d75a3c',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'eb6afdd47dc9a1a50a569176b9de77e8453195d290ccc31c4678939575a523e7',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'mlx', 'default'): {
        'weights': 'f550042bb8a473cd1fc8bfdfdeb0dff5f86a449835800ae5d8d294aa808846d8',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'a08b19c57958d87123ae9a682c9d2744c4e100b50d97b38dd51c1f8f0e28116a',
    },
    ('synth/models/v2-48k-f0-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'fc2a36b45fe8c4230be669885c224056670d7659f774c31f0c00415e115401e2',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'c5d802eb9c7a66b23d05061e57ac784fb588ed99a696de6df8159168d0948eed',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'ios', 'default'): {
        'weights': 'a6ed8347863e61d5ae0531fe44e623609f6d451c5647b08af1fd1c6f9057c401',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '0d78443856ba239a1b49e35b9437814a9322eb36402fc4ef0fbe6c1731f544a2',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'ios', 'fp32'): {
        'weights': '9e1bdbbae77ad4e459f103eb3b0793d456c4cf0de3ffc523f5a85ebe83021acd',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '095dd236c67ff7f0581b192eabbaa2e2185085d2850e84faf6aac2e530aa0b76',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'mlx', 'default'): {
        'weights': '2c3269860b55707b35f41e9310db4395cc853308c4b68c10506a20964fe34f29',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': 'fec1db461d03b13dedb68a72cbf6804943eb46c460e896c13d9c8c9c3c31eb37',
    },
    ('synth/models/v2-32k-nof0-tiny.pth', 'mlx', 'fp32'): {
        'weights': '726c564f0ba300d0a42e1ec65c3f912f0f5aa83325cd42a3f910d42694bd84a8',
        'config': '1b3c5d11199cb3d3670f0f64dc9c5c79d00930dbd8217bf4f1943f27f3674908',
        'weights_sans_rules': '1696a76c4967abf32e0b95281e9effff59d756bc3553e3279d8d05d348fefdb6',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'ios', 'default'): {
        'weights': '5fb89b356efe29ed339a1de09c989f7ff91cbcb679c3370f0969843714584514',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '47fdbb8a73e705e7f4d099160dd2982fa29a0311a420ec13aec2a500fee33b7c',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'ios', 'fp32'): {
        'weights': '67f4b02c460e7be711d7ab2f1433dd7d50bc1573827679ecb3cfe1a3bce13248',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': 'f0253e107e9ddb0df152bc72511a153347c61ebd2068e0682b3c56f8c488b5d2',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'mlx', 'default'): {
        'weights': '1449854c4a0affdc0fbfb5a4edf7381ef204f5704356c4b6c021ad530de34c68',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '440dcd8be2e223e5c58a301f2135b5b29fe1441ec29dd26f31ab8d5411ed6f8d',
    },
    ('synth/models/v1-32k-nof0-tiny.pth', 'mlx', 'fp32'): {
        'weights': '48f03b2ca1121b5675377faf6cb03db7f3f2c2a70821bfefed772ef15bfbd217',
        'config': '0ee235035fe3263fa997b37137a990b459c0621b018a9fdaab4ac34dcf51c042',
        'weights_sans_rules': '31719d2add446401e4e6b80a6d05854a93ecbad3705c52f9c3e31a649b2ba32f',
    },
    ('synth/extra/G_2333333.pth', 'ios', 'default'): {
        'weights': '7e073df3efcb65e9e7583bf4f36dd811eba02ee5aeb47bb39ba4393f156ae289',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e8c300fdd53b73c71aed65bb810dedfbf7e4fe542e42aa85e87a32a83bac2a1a',
    },
    ('synth/extra/G_2333333.pth', 'ios', 'fp32'): {
        'weights': '7e073df3efcb65e9e7583bf4f36dd811eba02ee5aeb47bb39ba4393f156ae289',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e8c300fdd53b73c71aed65bb810dedfbf7e4fe542e42aa85e87a32a83bac2a1a',
    },
    ('synth/extra/G_2333333.pth', 'mlx', 'default'): {
        'weights': '850f2bb2bafe1809632585fbe648451f3894a8e67d5e32e9d7fb74419d502b9d',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '086f3ea1855ddd1d3a42e5f5f55952b0b835529495f48262964e146717288d77',
    },
    ('synth/extra/G_2333333.pth', 'mlx', 'fp32'): {
        'weights': '850f2bb2bafe1809632585fbe648451f3894a8e67d5e32e9d7fb74419d502b9d',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '086f3ea1855ddd1d3a42e5f5f55952b0b835529495f48262964e146717288d77',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'ios', 'default'): {
        'weights': '7d7bf7e6bff59c554173c6dcf1dcf125f61133caba2e03ee2dcf31e6877e9475',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '5b6c9d2c7a561de8d6aa2997ad11a353b2dc03eac2b20972fdb95b7dd1c8e601',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'ios', 'fp32'): {
        'weights': '9cd0f739679fe789c7b05676380a4d0342ccf1675eccb23c89307d27ee9c17b9',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '12d9226add592b140b397972f9ae3c12b06394e2bd08ef9258ec932ab4058ac6',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'mlx', 'default'): {
        'weights': 'd18a900e87dec4f9354ac39db676b84c82da2adf6967d695a93fff5d1fc63ccd',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'f1a7ae5cd9a2213a43af51c82da9f86489fce8227bcdf04ea4cd8815d6b1c272',
    },
    ('synth/extra/v2-48k-f0-tiny-applio.pth', 'mlx', 'fp32'): {
        'weights': '3b076e13186e76730556706f9d6f884fe26d4e3a59d0280c3a31dd9121fb1941',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '670af7bdee4c2aa75ff8bd6b86251f688cc9b556e80587ad216f755f85fa6e50',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'ios', 'default'): {
        'weights': '3f913b6db8df1d2024b798401d733f7181f9f2bfe4e0c09b7c51b394a640dac8',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '545de3bb53439c27c9cd9a4aa461692a9f4551247e5268ec4a89808e768409e4',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'ios', 'fp32'): {
        'weights': '00a171348ed3873bb5fde289945def207cecd85557b82a0c3ca9abfa27398536',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '14602179e60c64aca430c4b4a1106e40cbf1ca7f5c99bdec82ce8adda1cb2f26',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'mlx', 'default'): {
        'weights': 'f7670782ac31c37f0c176251df44efe3b87dfd06bddb1f3b74cac6528e4d88c2',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '8b97972ba3323bfd5e449c4a318d3bf38361a7f419d64a03933bf77e460d1fbf',
    },
    ('synth/extra/v2-48k-f0-tiny-parametrizations.pth', 'mlx', 'fp32'): {
        'weights': 'f371d266885cb9b9dfb52bf574b2ad6ad4fc4076a6ff734714d97297fc9c8759',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '6e7d1c83750acb91d357b7bd753d332544d7ecd922df40f586021e3fa862b904',
    },
    ('hubert/hubert_tiny.pt', 'ios', 'default'): {
        'weights': '5010d464c25a5d5d9f41c4c4219a60f924194fb30f70f35e399cc2659b821f0c',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '06ffb706689a4841878826153cee7ba4bba859f11eb39d0c6b71f09cfefbdb1d',
    },
    ('hubert/hubert_tiny.pt', 'ios', 'fp32'): {
        'weights': '7063bb7d57da0fd1baabc163a94a561e97b980621280c84fe6eb8d24c00aa6fe',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '1b531833f098cbd0e769b3c27f3e4153b69d5889bba85c5063bb5be8a765a6ea',
    },
    ('hubert/hubert_tiny.pt', 'mlx', 'default'): {
        'weights': 'dc32c6059a0cc5c33f13d91136c9f57e384f91cdc47192c9cca75bd3efd936bf',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': '67220cc94af7ca8921208f832a2859361ddc2ff4f0b3fc1dcea05b756a2f693c',
    },
    ('hubert/hubert_tiny.pt', 'mlx', 'fp32'): {
        'weights': 'd1d6e9e48a7c4258776ba3b550ab0e5f464d3de1e790a8bb3bb443934ebfdf31',
        'config': 'ff1396ded5b6904eb7b501ab9b29388d247566029b01a8b481ec90149fda766f',
        'weights_sans_rules': 'd9f07533f45fb055308bfca98d2fe4e3633a2cbcadc80fcb7c763bff49a92c1f',
    },
    ('hubert/contentvec_tiny_hf', 'ios', 'default'): {
        'weights': '997d00d0d6257ff84c32cd14291dd49b20a83cafb8a8b8db2de664c0aff366e6',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': '78abf0fbb174814b0e39a6447e8de747cf3599e759a451705a24761e38c292ec',
    },
    ('hubert/contentvec_tiny_hf', 'ios', 'fp32'): {
        'weights': '997d00d0d6257ff84c32cd14291dd49b20a83cafb8a8b8db2de664c0aff366e6',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': '78abf0fbb174814b0e39a6447e8de747cf3599e759a451705a24761e38c292ec',
    },
    ('hubert/contentvec_tiny_hf', 'mlx', 'default'): {
        'weights': 'fd7b30a914d21e48d856ded14730356f3b03c92671561749217ea7d7da170652',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': 'd255de95c8ec050c5a54b89f5e5bbf50a67b6cc24e792cb93cce0cabc003f54e',
    },
    ('hubert/contentvec_tiny_hf', 'mlx', 'fp32'): {
        'weights': 'fd7b30a914d21e48d856ded14730356f3b03c92671561749217ea7d7da170652',
        'config': 'd3acfe91ca5379f570a453a7a3e14ae16b7e2c18007a27c7a61e276c7e293b14',
        'weights_sans_rules': 'd255de95c8ec050c5a54b89f5e5bbf50a67b6cc24e792cb93cce0cabc003f54e',
    },
    ('rmvpe/rmvpe_small.pt', 'ios', 'default'): {
        'weights': '2c1440848d0fdedf38edfe5488043dd31c0546c801ef4ace60ced177a1a91fee',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '7bbaabee69850156e8b36a66a8d0b9b4cefb84cfad1804930f894dc27dc29f7f',
    },
    ('rmvpe/rmvpe_small.pt', 'ios', 'fp32'): {
        'weights': 'dc5909a492ae9dea7e5ec1723f827435adafd5102d57f5958cf9ebcc44d4ae3b',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '30d12c2f6b3f88a7422054c5c889ce718d8e590692d3ad5f3a61865f41d67e88',
    },
    ('rmvpe/rmvpe_small.pt', 'mlx', 'default'): {
        'weights': '55b1e33ea8a92eb91e5edaa1d23ee7779703cde61f91b5a67dd8a35fc39e1c16',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '63063f36d41f5122a7d609b8dc4b5db7c1e10355bff182531061505cae36c65a',
    },
    ('rmvpe/rmvpe_small.pt', 'mlx', 'fp32'): {
        'weights': '8ee2d93e77c576d70c67d185331241f83fcaba356c0b0e3f4db4cdb5691cc165',
        'config': 'bba3ba6f0cd1870577712b2d465ab0650cb0620f8ac4226ed3b0559650bc60b7',
        'weights_sans_rules': '1ec9e1c22749da1a893e6ef9a0e682eef8ebe9840626ad1cad8460184a90d0fa',
    },
    ('synth/models/v2-40k-f0.pth', 'ios', 'default'): {
        'weights': '513335d84841a6b175a385da8fa01ab28b8706f24f5db79a9a32e111bd0eb352',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '694e46e3fed3399ac709635bfa31d07646be3d3eeb7fa817cb2fc1dae4b4d11a',
    },
    ('synth/models/v2-40k-f0.pth', 'ios', 'fp32'): {
        'weights': 'b8fe1773f4b374d93f4826040cf1db2315414b6ade67677d45a7e2fa1455ca42',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '427ca32f0b00430c7d6e0d4e733b1d945d57fb3979e7b11fb4d4c34439408c58',
    },
    ('synth/models/v2-40k-f0.pth', 'mlx', 'default'): {
        'weights': 'bdbc7a54f89379d10ff58423df9ad314306e0d81479ceed33f22f2f1eafa491c',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '43923ecd8c08c593c2217985a2f2373551a787a909f4b94fd9efd3d46d7907fc',
    },
    ('synth/models/v2-40k-f0.pth', 'mlx', 'fp32'): {
        'weights': 'e7482efc11f9207e6cdfa264d083dee2917e4b2956b61338c15ff990af161270',
        'config': 'e413e920076088c53de4c935a1fe3b66399ddcb94111a469acdb1436d6fa2a52',
        'weights_sans_rules': '70cc8358128a66e3e5847d3b54205211f3792c08652cb3eb9f2c6e8bde0412df',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'ios', 'default'): {
        'weights': 'ff1ea505b8694200c27194c5031bd7ae77a10ffdfe2e1f58eeef1ccd794666da',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '082dcb7d405c571009b01782533a11d3418cf04975dcc28c8a91b3db8ae9afbf',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'ios', 'fp32'): {
        'weights': 'e671f41a412d4aea947e7e50808392e690d9c31e4e009279121c14964a852500',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '7fadaeff71d5a96bae5d7ae28afca806ec97687240a6138e73aae390d1edaff1',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'mlx', 'default'): {
        'weights': '91bfd6e3cf399803c7c3f4942ee32f09bfd6d98b7697c9e120d4dff0a4c3e699',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '6696131fcf9f7070fadf081b601f27a8339969427e9cb3ee1e90e7340c650ff1',
    },
    ('vocoders/models/v2-40k-mrf-tiny.pth', 'mlx', 'fp32'): {
        'weights': 'c0ebd22c92a6a2ba673b18090c91f2b7817188196cde632edddad2b4ba8dcb66',
        'config': 'b21c487e4564d202cbf48d236ce6f012aa120f4bb1d6de951ea33046c3abc094',
        'weights_sans_rules': '08ea01b700369cf7e1334df4a1b065cfe11a8563edf9e0b48747f750eec42bd0',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'ios', 'default'): {
        'weights': 'a8fccec6dab09570ff1017c44ccf4c7cdacd4d40e44ed6313d9865790a0b4da2',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'cbfb1187194b1c4b8fc93875d4cc397d3d96a3d39c0cd76b42eb0729411fa230',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'ios', 'fp32'): {
        'weights': 'ef932921a2161f5996132fa7d40c9e251a62199379ee3dbdb34528198b6ca358',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'e3c4052d99e66b2efa94256cec5ffa2746d9c6899083d454112dfdcbfc979928',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'mlx', 'default'): {
        'weights': '3e235369be3e7b7bd18fab29566f69a6273d67fcf9b53abd2c1b9c9cbaca25e7',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': 'b227db0c698f206e7a275bae14803032e25d771146abfa27209dffe2ddd8aa91',
    },
    ('vocoders/models/v2-48k-mrf-tiny.pth', 'mlx', 'fp32'): {
        'weights': '6a960c739cf7e5edd8cc9790da0d6bfdf4451d8e3bd46b34f739ffe3cc51dcd3',
        'config': '0054a8b435c5894bb3c31cea45da0d95e0fee9b209902cce7265ce458fa61bcb',
        'weights_sans_rules': '3f4cee16272379f2197c69ddbedd5476afbd0bd10f78a19039bb5000897c712b',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'ios', 'default'): {
        'weights': '9ecb796e756bb6990334f7222d6c36e24a6982c6b7322a6c5d89a5fc8b127ad2',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '2490321c3478dcfa0db9716a1b156a91fbb3254f4880a6ebb9dd4cf25106e16e',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'ios', 'fp32'): {
        'weights': 'c005a54f1635b34aae971083f8cad839a10788327aa0b977dc39c1431e97609a',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '1b92b35ba2473a815923c09a6ececd570f0e8c4126043f1d33a2023e90727113',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'mlx', 'default'): {
        'weights': 'fccb2f486b9e356119b2e4b9081a5d09615cc37060128a4b5813e09a6bf8c2bc',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '4fe1a009f590c82a16c8d4043ea4bd77fee36edaa77d828dfa452de5cadc011f',
    },
    ('vocoders/models/v2-32k-refinegan-tiny.pth', 'mlx', 'fp32'): {
        'weights': '86f2e81822cc6d2a468b1b3bd0cb0034f8e974360b5108155ac1a29097738ed2',
        'config': 'fa781921ee31afc831ce4db211968980eb8f9f096a6c467e6c7caf570fe761f1',
        'weights_sans_rules': '169c57920d953c7b928dd9cecc069b00b6cce56671d45c43715665d59c5cecd7',
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
