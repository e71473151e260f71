/* The shared module is tk_pkcs11 linked whole; CMake needs one source. */
typedef int tokend_pkcs11_module_unit;
