/* addr: being written */
#include "config.h"
