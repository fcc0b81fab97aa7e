/* seal: being written */
#include "config.h"
