#ifndef BASTION_DIAG_H
#define BASTION_DIAG_H
#endif
