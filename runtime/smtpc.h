#ifndef BASTION_SMTPC_H
#define BASTION_SMTPC_H
#endif
