/* reco_version: the version the library was built as. */
#include "reco/version.h"

const char *reco_version(void)
{
    return RECO_VERSION_STRING;
}
