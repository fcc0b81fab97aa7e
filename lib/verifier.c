/* verifier: being written */
#include "config.h"
