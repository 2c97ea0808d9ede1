"""
A double of gpg as _utils/backup_gpg.py runs it (``FakeGpg``, for its ``_gpg``): a keyring
``{fingerprint: has its secret}`` in which an imported "block" is lines
``<fingerprint> public|secret``; and two fingerprints and the shape of armored key blocks
(``SECRET_BLOCK``, ``PUBLIC_BLOCK``) for the pillar's backup:gpg_key.
"""

KEY = "6B3E296D875236EE4E056ADD7014EBA0F79553CF"
OTHER_KEY = "B70C4BD2E3F7E5B34BB7082148628CB771C313CA"
SECRET_BLOCK = "\n".join(
    ["-----BEGIN PGP PRIVATE KEY BLOCK-----", "", "lFgEaUtQ", "-----END PGP PRIVATE KEY BLOCK-----"]
)
PUBLIC_BLOCK = "\n".join(
    ["-----BEGIN PGP PUBLIC KEY BLOCK-----", "", "mDMEaUtQ", "-----END PGP PUBLIC KEY BLOCK-----"]
)


class FakeGpg:
    """
    Stands in for ``_gpg``: a keyring ``{fingerprint: has its secret}``; an imported
    "block" is lines ``<fingerprint> public|secret``.
    """

    def __init__(self):
        self.keys, self.calls = {}, []

    def __call__(self, paths, args, stdin=None):
        self.calls.append(args[-1])
        if args[-1] == "--list-keys":
            return "".join(self.listing("pub", "sub", f, "") for f in self.keys)
        if args[-1] == "--list-secret-keys":
            return "".join(self.listing("sec", "ssb", f, "+") for f, s in self.keys.items() if s)
        if args[-1] == "--import":
            for line in stdin.splitlines():
                fingerprint, part = line.split()
                self.keys[fingerprint] = self.keys.get(fingerprint) or part == "secret"
        elif args[-2] == "--delete-secret-and-public-keys":
            del self.keys[args[-1]]
        return ""

    @staticmethod
    def listing(primary, sub, fingerprint, secret):
        return (
            f"{primary}:-:255:22:{fingerprint[-16:]}:1:::-:::scESC:::{secret}::ed25519:::0:\n"
            f"fpr:::::::::{fingerprint}:\n"
            f"{sub}:-:255:18:3E0EC48F466EB966:1::::::e:::{secret}::cv25519::\n"
            f"fpr:::::::::CA53B58F7CB287689468075C3E0EC48F466EB966:\n"
        )
