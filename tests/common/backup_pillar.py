"""The backup pillar the backup module reads, as the ext_pillar hands it to the hub."""


def backup_pillar(source, target, passphrase, work_dir):
    """Backups on, every week a full chain, two kept, stale after three hours."""
    return {
        "enabled": True,
        "source": str(source),
        "target": target,
        "target_host": None,
        "full_every": 604800,
        "keep_full": 2,
        "stale_after": 10800,
        "passphrase": passphrase,
        "work_dir": str(work_dir),
    }
