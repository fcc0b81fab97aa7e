#ifndef BASTION_SCRAM_H
#define BASTION_SCRAM_H
#endif
