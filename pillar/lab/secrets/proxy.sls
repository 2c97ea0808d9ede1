# The lab's certificate comes from its ACME server (proxy:tls:source acme): no key here.
# script/lab adds the TSIG secret of its DNS server (proxy:tls:acme:dns:key_secret) to its
# copy of this file.
{}
