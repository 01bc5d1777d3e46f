// Empty: compiled only to build the shared precompiled header.
