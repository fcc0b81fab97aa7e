#ifndef BASTION_DSN_H
#define BASTION_DSN_H
#endif
