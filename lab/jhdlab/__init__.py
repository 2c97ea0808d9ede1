"""
script/lab's implementation (run as lab/lab.py), by concern; each module imports only
those before it: common, images, site_pillar, hosts, minions, cli.
"""
