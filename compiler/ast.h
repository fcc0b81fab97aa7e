#ifndef BASTION_AST_H
#define BASTION_AST_H
#endif
