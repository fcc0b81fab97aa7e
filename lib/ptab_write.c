/* ptab_write: being written */
#include "config.h"
