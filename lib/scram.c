/* scram: being written */
#include "config.h"
