/* ptab_read: being written */
#include "config.h"
