/* b64: being written */
#include "config.h"
