# The lab's proxy makes its own CA and certificate (proxy:tls:source self_signed): no key here.
{}
